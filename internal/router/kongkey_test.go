package router

import "testing"

// TestKongKeyAsLuaJITComputesIt pins KongKey to the integers Kong 3.10's own
// get_priority (kong/router/transform.lua, lines 456-668, run unchanged
// under LuaJIT 2.1 with the route tables below, and converted to uint64 as
// the router's priority argument is) gives these routes.
func TestKongKeyAsLuaJITComputesIt(t *testing.T) {
	for _, tc := range []struct {
		route string
		p     Priority
		want  uint64
	}{
		{`hosts={"api.test"}`, Priority{Weight: 1, PlainHostOnly: true}, 0x1000000020000000},
		{`methods={"GET"}, paths={"/admin"}`, Priority{Weight: 2, PathLength: 6}, 0x0000000040000006},
		{`paths={"~/api/.*"}`, Priority{Weight: 1, Regex: true}, 0x0008000020000000},
		{`methods={"GET"}, paths={"/api/users"}`, Priority{Weight: 2, PathLength: 10}, 0x000000004000000a},
		{`methods, hosts={"*.test"}, one header, paths={"/a"}`, Priority{Weight: 4, HeaderCount: 1, PathLength: 2}, 0x8000000000000000},
		{`methods, hosts={"a.test"}, one header, paths={"/a"}`, Priority{Weight: 4, PlainHostOnly: true, HeaderCount: 1, PathLength: 2}, 0x9000000000100002},
		{`paths={"~/a"}, regex_priority=-1`, Priority{Weight: 1, Regex: true, RegexPriority: -1}, 0x8008000020000000},
		{`paths={"~/a"}, regex_priority=1`, Priority{Weight: 1, Regex: true, RegexPriority: 1}, 0x0008000020080000},
		{`paths={"~/a"}, regex_priority=2`, Priority{Weight: 1, Regex: true, RegexPriority: 2}, 0x0008000020100000},
		{`paths={"~/a"}, regex_priority=5000`, Priority{Weight: 1, Regex: true, RegexPriority: 5000}, 0x8008000020000000},
		{`one header, paths={"/abc"}`, Priority{Weight: 2, HeaderCount: 1, PathLength: 4}, 0x0000000040100004},
		{`two headers, paths={"/abc"}`, Priority{Weight: 2, HeaderCount: 2, PathLength: 4}, 0x0000000040200004},
		{`hosts={"*.test"}, paths={"/abcdef"}`, Priority{Weight: 2, PathLength: 7}, 0x0000000040000007},
		{`hosts={"a.test"}, paths={"/abcdef"}`, Priority{Weight: 2, PlainHostOnly: true, PathLength: 7}, 0x1000000040000007},
		{`methods, hosts={"*.test"}, paths={"/abcdef"}`, Priority{Weight: 3, PathLength: 7}, 0x0000000060000007},
		{`methods={"GET"}, paths={"~/x"}, regex_priority=3`, Priority{Weight: 2, Regex: true, RegexPriority: 3}, 0x0008000040180000},
		{`snis={"a.test"}, paths={"/p"}`, Priority{Weight: 2, PathLength: 2}, 0x0000000040000002},
	} {
		if got := tc.p.KongKey(); got != tc.want {
			t.Errorf("%s: KongKey = %#016x, Kong's get_priority gives %#016x", tc.route, got, tc.want)
		}
	}
}
