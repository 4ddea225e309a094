// Package redisstate keeps Kaiin's hot state in Redis or Redis Cluster,
// for deployments of several nodes.
//
// Every command goes to a primary: replicas lag, and a one-time token
// written on one node must be seen (and consumed) by the next request on
// any node. Every operation touches one key, so it lands on one cluster
// slot; Delete of several keys sends one DEL per key. Requires Redis 6.2
// or later (GETDEL).
package redisstate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kaiin-project/kaiin/internal/state"
)

var _ state.State = (*State)(nil)

// State is the Redis hot state.
type State struct {
	c        redis.UniversalClient
	prefix   string
	password string // only to scrub it from errors
}

// New connects to Redis as opts says. It does not wait for the server:
// call Ping to check it is reachable.
func New(opts Options) (*State, error) {
	if len(opts.Addrs) == 0 {
		return nil, errors.New("redisstate: no Redis address given")
	}
	if strings.ContainsAny(opts.KeyPrefix, "{}") {
		return nil, fmt.Errorf("redisstate: key prefix %q must not contain '{' or '}' (a Redis Cluster hash tag would put every key on one node)", opts.KeyPrefix)
	}
	if opts.PoolSize < 0 {
		return nil, fmt.Errorf("redisstate: pool size must not be negative, got %d", opts.PoolSize)
	}
	s := &State{prefix: opts.KeyPrefix, password: opts.Password}
	if opts.Cluster || len(opts.Addrs) > 1 {
		if opts.DB != 0 {
			return nil, fmt.Errorf("redisstate: Redis Cluster has only database 0, got %d", opts.DB)
		}
		s.c = redis.NewClusterClient(clusterOptions(opts))
	} else {
		s.c = redis.NewClient(&redis.Options{
			Addr:         opts.Addrs[0],
			Username:     opts.Username,
			Password:     opts.Password,
			DB:           opts.DB,
			TLSConfig:    opts.TLS,
			DialTimeout:  opts.DialTimeout,
			ReadTimeout:  opts.ReadTimeout,
			WriteTimeout: opts.WriteTimeout,
			PoolSize:     opts.PoolSize,
		})
	}
	return s, nil
}

// clusterOptions reads and writes primaries only: no ReadOnly, no routing
// by latency or at random, each of which sends reads to replicas.
func clusterOptions(opts Options) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		// go-redis appends discovered nodes to Addrs in place: a caller's
		// slice with spare capacity (say a sub-slice shared with another
		// client) would be written to concurrently.
		Addrs:          slices.Clip(slices.Clone(opts.Addrs)),
		Username:       opts.Username,
		Password:       opts.Password,
		TLSConfig:      opts.TLS,
		DialTimeout:    opts.DialTimeout,
		ReadTimeout:    opts.ReadTimeout,
		WriteTimeout:   opts.WriteTimeout,
		PoolSize:       opts.PoolSize,
		ReadOnly:       false,
		RouteByLatency: false,
		RouteRandomly:  false,
	}
}

func checkTTL(ttl time.Duration) error {
	// Redis reads a zero expiry as "never" and go-redis a negative one as
	// "keep the old ttl"; neither is what a caller of State means.
	if ttl <= 0 {
		return fmt.Errorf("redisstate: ttl must be positive, got %v", ttl)
	}
	return nil
}

// Set implements state.State.
func (s *State) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	return s.wrap("set", s.c.Set(ctx, s.prefix+key, value, ttl).Err())
}

// SetNX implements state.State (SET … NX PX).
func (s *State) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL(ttl); err != nil {
		return false, err
	}
	ok, err := s.c.SetNX(ctx, s.prefix+key, value, ttl).Result()
	return ok, s.wrap("setnx", err)
}

// Get implements state.State.
func (s *State) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.c.Get(ctx, s.prefix+key).Bytes()
	if err != nil {
		return nil, s.wrap("get", err)
	}
	return v, nil
}

// Take implements state.State with GETDEL, atomic in Redis.
func (s *State) Take(ctx context.Context, key string) ([]byte, error) {
	v, err := s.c.GetDel(ctx, s.prefix+key).Bytes()
	if err != nil {
		return nil, s.wrap("take", err)
	}
	return v, nil
}

// Delete implements state.State with one DEL per key, pipelined: the keys
// may live in different cluster slots, where a multi-key DEL fails.
func (s *State) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, s.prefix+k)
		}
		return nil
	})
	return s.wrap("delete", err)
}

// Expire implements state.State (PEXPIRE).
func (s *State) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	ok, err := s.c.PExpire(ctx, s.prefix+key, ttl).Result()
	if err != nil {
		return s.wrap("expire", err)
	}
	if !ok {
		return state.ErrNotFound
	}
	return nil
}

// incrScript counts in a fixed window: the expiry is set by the increment
// that creates the counter and never moved by later ones. It also sets
// one on a counter found without any (written by hand, say), which would
// otherwise never reset and lock its subject out for good.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) == -1 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// Incr implements state.State with incrScript, atomic in Redis.
func (s *State) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	if err := checkTTL(window); err != nil {
		return 0, err
	}
	n, err := incrScript.Run(ctx, s.c, []string{s.prefix + key}, millis(window)).Int64()
	return n, s.wrap("incr", err)
}

// SAdd implements state.State: SADD and PEXPIRE in one MULTI/EXEC (one
// key, so one slot), so a set never exists without a ttl.
func (s *State) SAdd(ctx context.Context, key, member string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	k := s.prefix + key
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, k, member)
		p.PExpire(ctx, k, ttl)
		return nil
	})
	return s.wrap("sadd", err)
}

// SMembers implements state.State.
func (s *State) SMembers(ctx context.Context, key string) ([]string, error) {
	m, err := s.c.SMembers(ctx, s.prefix+key).Result()
	if err != nil {
		return nil, s.wrap("smembers", err)
	}
	if m == nil {
		m = []string{}
	}
	return m, nil
}

// SRem implements state.State.
func (s *State) SRem(ctx context.Context, key string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	return s.wrap("srem", s.c.SRem(ctx, s.prefix+key, args...).Err())
}

// Ping implements state.State. On a cluster it pings every primary: the
// hot state is usable only when every slot is.
func (s *State) Ping(ctx context.Context) error {
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		return s.wrap("ping", cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		}))
	}
	return s.wrap("ping", s.c.Ping(ctx).Err())
}

// Close implements state.State; it closes the client's connections.
func (s *State) Close() error {
	return s.wrap("close", s.c.Close())
}

// wrap maps redis.Nil to state.ErrNotFound and prefixes other errors. An
// error that somehow quotes the password is rewritten without it (and
// without its chain, which still holds the password).
func (s *State) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return state.ErrNotFound
	case s.password != "" && strings.Contains(err.Error(), s.password):
		return fmt.Errorf("redisstate: %s: %s", op, strings.ReplaceAll(err.Error(), s.password, "xxxxx"))
	}
	return fmt.Errorf("redisstate: %s: %w", op, err)
}

// millis rounds d up to whole milliseconds, Redis's finest ttl.
func millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
