package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpAddrs gives each agent of a domain its own --http-addr, so a bench
// can read the agents' metrics; addrs[i] is node i's.
func httpAddrs(count int) (perNode func(i int) []string, addrs []string, err error) {
	for i := 0; i < count; i++ {
		a, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		addrs = append(addrs, a)
	}
	return func(i int) []string { return []string{"--http-addr", addrs[i]} }, addrs, nil
}

// batchCounter reads the leader's fedlic_write_batch_commands histogram:
// how many license writes, in how many raft entries, so far.
func batchCounter(httpAddr string) (writes, entries float64, err error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := 0
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "fedlic_write_batch_commands_sum":
			writes, err = strconv.ParseFloat(value, 64)
		case "fedlic_write_batch_commands_count":
			entries, err = strconv.ParseFloat(value, 64)
		default:
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("metrics of %s: %s: %w", httpAddr, name, err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("metrics of %s have no fedlic_write_batch_commands histogram", httpAddr)
	}
	return writes, entries, nil
}
