package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
)

// TestRedisCalls reads the calls of the scripts and PUBLISH from a fake
// Redis that answers INFO commandstats as Redis 7 does (a bulk string of
// CRLF lines).
func TestRedisCalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for n := 41; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			if line != "INFO commandstats\r\n" {
				fmt.Fprintf(c, "-ERR unexpected %q\r\n", line)
			} else {
				body := fmt.Sprintf("# Commandstats\r\ncmdstat_hmget:calls=900,usec=1,usec_per_call=0.00,rejected_calls=0,failed_calls=0\r\n"+
					"cmdstat_evalsha:calls=%d,usec=5,usec_per_call=0.01,rejected_calls=0,failed_calls=0\r\n"+
					"cmdstat_publish:calls=2,usec=5,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\n"+
					"cmdstat_get:calls=1000,usec=5,usec_per_call=0.01,rejected_calls=0,failed_calls=0\r\n", n)
				fmt.Fprintf(c, "$%d\r\n%s\r\n", len(body), body)
			}
			c.Close()
		}
	}()
	for want := int64(43); want < 45; want++ {
		got, err := redisCalls(context.Background(), ln.Addr().String())
		if err != nil || got != want {
			t.Fatalf("redisCalls = %d, %v; want %d", got, err, want)
		}
	}
	if err := checkRedisAddr("10.0.0.1:6379"); err == nil {
		t.Error("a Redis off the machine was accepted")
	}
	if err := checkRedisAddr("127.0.0.1:6379"); err != nil {
		t.Error(err)
	}
}
