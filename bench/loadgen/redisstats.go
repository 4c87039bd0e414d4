package main

// With -redis ADDR, loadgen reads the call counts of the Redis behind the
// server's shared cache (INFO commandstats) at both edges of the measured
// window and reports the Redis calls (round trips) the server made per
// successful request. One connection each time, RESP by hand: the standard
// library is enough for two INFO commands.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// checkRedisAddr checks that -redis names a loopback host:port.
func checkRedisAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("-redis: %v (want 127.0.0.1:PORT)", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef("-redis: %q is not a loopback address", addr)
	}
	return nil
}

// redisCalls returns the calls Redis has answered of the commands a
// Latch server sends: the scripts of Get, Fill and Invalidate (EVALSHA, or
// EVAL when Redis lost them) and PUBLISH, from INFO commandstats. What the
// scripts run inside is left out (total_commands_processed counts it too),
// and so is the rare GET of the generation: one call is one round trip.
func redisCalls(ctx context.Context, addr string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := loopbackDialer().DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "INFO commandstats\r\n"); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	head = strings.TrimRight(head, "\r\n")
	if !strings.HasPrefix(head, "$") {
		return 0, fmt.Errorf("redis INFO: unexpected reply %q", head)
	}
	n, err := strconv.Atoi(head[1:])
	if err != nil || n < 0 || n > 1<<20 {
		return 0, fmt.Errorf("redis INFO: unexpected length %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	var total int64
	for line := range strings.Lines(string(body)) {
		name, stats, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok {
			continue
		}
		switch name {
		case "cmdstat_evalsha", "cmdstat_eval", "cmdstat_evalsha_ro", "cmdstat_eval_ro", "cmdstat_publish":
		default:
			continue
		}
		for kv := range strings.SplitSeq(stats, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				calls, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("redis INFO: %q: %v", line, err)
				}
				total += calls
			}
		}
	}
	return total, nil
}
