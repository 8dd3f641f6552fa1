package app

import (
	"fmt"
	"net"
	"strconv"
)

// checkListenAddr reports an address that can never be listened on: no
// port, or a port that is not a number from 0 to 65535 or a service name.
// A port another process holds is found when Run binds it, first thing.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port or :port (%w)", addr, err)
	}
	if n, err := strconv.Atoi(port); err == nil {
		if n < 0 || n > 65535 {
			return fmt.Errorf("%q: port %d is not in 0..65535", addr, n)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: port %q: %w", addr, port, err)
	}
	return nil
}
