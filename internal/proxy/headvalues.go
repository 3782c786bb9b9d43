package proxy

import "sync/atomic"

// cachedValueKeys are the response fields whose values repeat from
// response to response of an upstream: a type, the Date of the current
// second, fixed policy headers (Content-Length has its own, lengthValue).
var cachedValueKeys = [...]string{
	"Content-Type", "Date", "Server", "Cache-Control", "Vary", "Content-Encoding",
	"Accept-Ranges", "X-Content-Type-Options", "X-Frame-Options", "Strict-Transport-Security",
	"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Pragma", "Content-Language",
}

// valueSlots is how many values of each field the cache holds, chosen
// by the value's length and last byte.
const valueSlots = 4

// maxCachedValue is the longest value the cache keeps.
const maxCachedValue = 128

// valueCache holds the last values read of the cachedValueKeys fields:
// a value read again is the string made last time, without an
// allocation. Strings are immutable, so responses sharing one cannot
// tell; the cache holds at most a few KiB.
var valueCache [len(cachedValueKeys) + 1][valueSlots]atomic.Pointer[string]

// lengths holds the Content-Length values below maxCachedLength made so
// far, one slot per length: lengths vary from response to response,
// and a cache by slot would make each new one cost a second allocation.
var lengths [maxCachedLength]atomic.Pointer[string]

const maxCachedLength = 4096

// lengthValue is the Content-Length value (n, as written) as a string.
func lengthValue(n int64, value []byte) string {
	if n >= maxCachedLength {
		return string(value)
	}
	slot := &lengths[n]
	if p := slot.Load(); p != nil && *p == string(value) {
		return *p
	}
	v := string(value)
	slot.Store(&v)
	return v
}

// headValue is value as a string, from the value cache for a field of
// group (0: not cached).
func headValue(group int, value []byte) string {
	if group == 0 || len(value) == 0 || len(value) > maxCachedValue {
		return string(value)
	}
	slot := &valueCache[group][(len(value)+int(value[len(value)-1]))%valueSlots]
	if p := slot.Load(); p != nil && *p == string(value) {
		return *p
	}
	v := string(value)
	slot.Store(&v)
	return v
}
