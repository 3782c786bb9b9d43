// Package compression is Turnpike's compression plugin (Kong OSS has
// none): it compresses upstream responses with zstd, Brotli or gzip as
// the client's Accept-Encoding allows, and optionally decompresses
// request bodies under a size and ratio limit.
//
// The header filter decides (status, Range, Content-Encoding,
// Cache-Control: no-transform, content type, length, Set-Cookie) and
// rewrites the head: Content-Encoding set, Content-Length and
// Accept-Ranges dropped, a strong ETag weakened, Vary: Accept-Encoding
// merged in. A compressed response's reader goes to the body filter in
// Ctx.Shared (allocated only then); the body filter streams the
// upstream's reads through a pooled encoder, and a response without a
// declared length is flushed through the encoder after every upstream
// read, so server-sent events are not held back. At most maxBusy
// encoders per coding and level work at once; the log phase gives back
// those of responses that did not reach their end.
//
// Priority 90, below proxy-cache's 100: the cache captures the identity
// body and headers before this plugin's filters change them, so one
// entry serves every client. A gateway answer with a body (a cache hit)
// does not pass the body filters: the proxy hands it whole to ExitBody
// (plugin.ExitBodyFilter), which applies the same rules and compresses
// it for the client at hand.
package compression
