// Package logfile holds what the gateway's file appenders share (the
// file-log plugin's sender and the logging plugin's path): a File that
// follows log rotation and never lets a write to a FIFO nobody reads
// wait past its context, and the Grace after which a closing writer
// abandons a write that does not return. It imports nothing of the
// gateway's: any package may use it.
package logfile
