// Package archtest holds tests of the project's shape: which packages
// may import which, and how large a file or a function may grow. It has
// no code of its own.
package archtest
