// A real OpenID Connect provider for the single sign-on tests: oidc-provider
// from npm (pinned in package.json), on a free loopback port. Prints its
// issuer URL as its first line, then serves until killed.
//
// One client, from the environment: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
// OIDC_REDIRECT_URI. Sign-in is oidc-provider's own development form, where
// the login typed is the user: their subject and their email, verified.
import http from 'node:http';

import Provider from 'oidc-provider';

const { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI } = process.env;

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: OIDC_CLIENT_ID,
      client_secret: OIDC_CLIENT_SECRET,
      redirect_uris: [OIDC_REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, email: id, email_verified: true }),
    }),
  });
  server.on('request', provider.callback());
  console.log(issuer);
});
