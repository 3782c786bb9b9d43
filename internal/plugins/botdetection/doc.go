// Package botdetection is Kong's bot-detection plugin: it refuses
// requests whose User-Agent matches a deny regex or Kong's built-in list
// of crawlers and HTTP libraries, unless an allow regex matches first.
// Verdicts are kept per user agent in a fixed-size LRU, as Kong's worker
// cache does, so a repeated agent costs a map lookup, and random agents
// cannot grow it.
package botdetection
