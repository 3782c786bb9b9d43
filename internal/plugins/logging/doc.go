// Package logging is the patterns guide's `logging` plugin: after each
// request it writes one JSON object of the shape the user's `log_format`
// gives, its string leaves filled from NGINX-style variables ($status,
// $request_uri, $http_<name>...), to the access log's destination or to a
// file of its own. The format is compiled once at load into a list of
// literal bytes and variable appenders, so a request costs no parsing, no
// fmt and no map iteration.
package logging
