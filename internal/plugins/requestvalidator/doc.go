// Package requestvalidator is Kong Enterprise's request-validator plugin:
// in the access phase it checks the request's Content-Type against
// allowed_content_types, its JSON body against body_schema and its query,
// header and path parameters against parameter_schema, all JSON Schema
// draft 4 compiled at load, and answers 400 with Kong's texts when one
// does not conform. Kong's own schema dialect (version "kong") is refused
// at load with a config error: only draft4 is supported.
package requestvalidator
