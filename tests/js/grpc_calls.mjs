// A few calls with the official JavaScript gRPC client (@qdrant/js-client-grpc),
// each printed as "ok" with a summary or as the gRPC code and message it got:
// node tests/js/grpc_calls.mjs <host> <port> <api key>
import {QdrantClient} from '@qdrant/js-client-grpc';

const [host, port, apiKey] = process.argv.slice(2);
const client = new QdrantClient({host, port: Number(port), apiKey, https: false, checkCompatibility: false});
const collections = client.api('collections');
const points = client.api('points');

const calls = {
  health: async () => (await client.api('service').healthCheck({})).title,
  list: async () => (await collections.list({})).collections.map((c) => c.name).sort(),
  get: async () => (await collections.get({collectionName: 'a'})).result.status,
  count: async () => Number((await points.count({collectionName: 'a', exact: true})).result.count),
  countOther: async () => Number((await points.count({collectionName: 'b', exact: true})).result.count),
  deleteMissing: async () => (await collections.delete({collectionName: 'no-such'})).result,
};

const out = {};
for (const [name, call] of Object.entries(calls)) {
  try {
    out[name] = ['ok', await call()];
  } catch (error) {
    out[name] = [error.code ?? String(error), error.rawMessage ?? error.message];
  }
}
console.log(JSON.stringify(out));
