// /api/docs: the Authorize box takes the management key itself; this adds the
// `apikey ` scheme word the API reads (`Authorization: apikey <key>`), so
// nobody has to type it. Loaded before drf-spectacular's init script, it wraps
// SwaggerUIBundle so every "Try it out" request passes through here first.
"use strict";

(() => {
  const original = window.SwaggerUIBundle;
  if (!original) return;
  const withScheme = (request) => {
    const headers = request.headers || {};
    const name = Object.keys(headers).find((h) => h.toLowerCase() === "authorization");
    if (name) {
      const value = String(headers[name]).trim();
      if (value && !/^apikey\s/i.test(value)) headers[name] = `apikey ${value}`;
    }
    return request;
  };
  window.SwaggerUIBundle = Object.assign(function SwaggerUIBundle(config) {
    const next = config.requestInterceptor || ((request) => request);
    return original({ ...config, requestInterceptor: (request) => next(withScheme(request)) });
  }, original);
})();
