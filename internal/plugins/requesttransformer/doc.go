// Package requesttransformer is Kong's request-transformer plugin: before
// proxying it rewrites the upstream method, path, headers, query string and
// (form, JSON or multipart) body, applying remove, rename, replace, add and
// append in Kong's order. Values may use the plain lookups of Kong's
// templates ($(headers.x), $(query_params.x), $(uri_captures.x)); arbitrary
// Lua expressions are rejected when the config is validated.
package requesttransformer
