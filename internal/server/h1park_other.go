//go:build !linux

package server

import "time"

// Idle connections wait on a goroutine each where there is no epoll
// (h1park_linux.go).

type parker struct{}

func (s *h1Server) park(*h1Conn) bool { return false }

func (s *h1Server) sweepParked(time.Time) {}

func (s *h1Server) unparkAll() {}

func (s *h1Server) stopParker() {}
