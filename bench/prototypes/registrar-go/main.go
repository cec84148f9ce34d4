// A throwaway prototype for issue 19, to measure what a static, compiled registrar costs in
// memory: just enough of the protocol (wait for the app's health, lease grant, put on the lease,
// keepalive every TTL/3, fall/rise health checks, on SIGTERM a `leaving` put then revoke) over
// etcd's JSON gateway, with Go's own TLS (crypto/tls: no OpenSSL) for https endpoints.
// With arguments after `--` it is also leasehold-run: it starts the app as its child, forwards
// signals to it, reaps zombies (as PID 1 or a child subreaper), revokes on SIGTERM before passing
// it on, and exits with the app's status. NOT the product: one endpoint, no auth, no failover,
// no backoff, no record repair. See docs/registrar-runtime.md and bench/registrar-runtime.mjs.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func env(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func envInt(k string, d int) int {
	n, err := strconv.Atoi(env(k, strconv.Itoa(d)))
	if err != nil {
		fatal("%s: %v", k, err)
	}
	return n
}

func fatal(f string, a ...any) {
	fmt.Fprintf(os.Stderr, `{"level":"fatal","msg":%q}`+"\n", fmt.Sprintf(f, a...))
	os.Exit(2)
}

func logf(level, f string, a ...any) {
	fmt.Fprintf(os.Stdout, `{"level":%q,"time":%d,"msg":%q}`+"\n", level, time.Now().UnixMilli(), fmt.Sprintf(f, a...))
}

var (
	endpoint string
	etcd     *http.Client
	app      = &http.Client{}
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// call POSTs one gateway call and decodes its JSON answer.
func call(ctx context.Context, path string, body any) (map[string]any, error) {
	payload, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint+path, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("content-type", "application/json")
	res, err := etcd.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	text, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	line, _, _ := bytes.Cut(text, []byte("\n"))
	var a map[string]any
	if err := json.Unmarshal(line, &a); err != nil || res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s: HTTP %d %s", path, res.StatusCode, string(text))
	}
	if e, ok := a["error"].(map[string]any); ok {
		return nil, fmt.Errorf("%s: %v", path, e["message"])
	}
	return a, nil
}

func timeout(ms int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
}

func healthy(url string, timeoutMs int) bool {
	ctx, cancel := timeout(timeoutMs)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := app.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return res.StatusCode/100 == 2
}

type registrar struct {
	key, service, id, address, tag string
	port, weight, ttl              int
	lease                          string
	registeredAt                   string
}

func (r *registrar) value(state string) string {
	v, _ := json.Marshal(struct {
		ID           string `json:"id"`
		Service      string `json:"service"`
		Address      string `json:"address"`
		Port         int    `json:"port"`
		Tag          string `json:"tag"`
		Weight       int    `json:"weight"`
		State        string `json:"state"`
		RegisteredAt string `json:"registeredAt"`
	}{r.id, r.service, r.address, r.port, r.tag, r.weight, state, r.registeredAt})
	return string(v)
}

func (r *registrar) register() error {
	ctx, cancel := timeout(2000)
	defer cancel()
	a, err := call(ctx, "/v3/lease/grant", map[string]any{"TTL": r.ttl})
	if err != nil {
		return err
	}
	id, _ := a["ID"].(string)
	if id == "" || id == "0" {
		return errors.New("no lease granted")
	}
	r.registeredAt = time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := call(ctx, "/v3/kv/put", map[string]any{"key": b64(r.key), "value": b64(r.value("up")), "lease": id}); err != nil {
		return err
	}
	r.lease = id
	logf("info", "registered %s on lease %s", r.key, id)
	return nil
}

func (r *registrar) keepAlive() error {
	ctx, cancel := timeout(2000)
	defer cancel()
	a, err := call(ctx, "/v3/lease/keepalive", map[string]any{"ID": r.lease})
	if err != nil {
		return err
	}
	res, _ := a["result"].(map[string]any)
	if ttl, _ := strconv.Atoi(fmt.Sprint(res["TTL"])); ttl <= 0 {
		return errors.New("lease gone")
	}
	return nil
}

func (r *registrar) revoke() {
	if r.lease == "" {
		return
	}
	ctx, cancel := timeout(2000)
	defer cancel()
	call(ctx, "/v3/kv/put", map[string]any{"key": b64(r.key), "value": b64(r.value("leaving")), "lease": r.lease})
	if _, err := call(ctx, "/v3/lease/revoke", map[string]any{"ID": r.lease}); err != nil {
		logf("warn", "revoke: %v", err)
	}
	r.lease = ""
}

func main() {
	endpoint = strings.TrimRight(strings.Split(env("ETCD_ENDPOINTS", "http://127.0.0.1:2379"), ",")[0], "/")
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
	if strings.HasPrefix(endpoint, "https:") {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := os.Getenv("ETCD_CA"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				fatal("ETCD_CA: %v", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			cfg.RootCAs.AppendCertsFromPEM(pem)
		}
		if c := os.Getenv("ETCD_CERT"); c != "" {
			pair, err := tls.LoadX509KeyPair(c, os.Getenv("ETCD_KEY"))
			if err != nil {
				fatal("ETCD_CERT/ETCD_KEY: %v", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		tr.TLSClientConfig = cfg
	}
	etcd = &http.Client{Transport: tr}
	host, _ := os.Hostname()
	port := envInt("PORT", 3000)
	r := &registrar{
		service: env("SERVICE", "webapp"), id: env("NODE_ID", host), address: env("ADVERTISE_ADDRESS", "127.0.0.1"),
		port: port, weight: envInt("WEIGHT", 100), ttl: envInt("LEASE_TTL", 5),
	}
	r.tag = env("TAG", r.id)
	r.key = strings.TrimRight(env("NODES_PREFIX", "/nodes/"), "/") + "/" + r.service + "/" + r.id
	healthURL := env("HEALTH_URL", fmt.Sprintf("http://127.0.0.1:%d/health", port))
	interval := time.Duration(envInt("CHECK_INTERVAL_MS", 1000)) * time.Millisecond
	checkTimeout := envInt("CHECK_TIMEOUT_MS", 2000)
	fall, rise := envInt("CHECK_FALL", 3), envInt("CHECK_RISE", 2)
	waitInterval := time.Duration(envInt("WAIT_CHECK_INTERVAL_MS", 25)) * time.Millisecond

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCHLD)

	// leasehold-run: `registrar -- app args...` starts the app and supervises it.
	var child *exec.Cmd
	childDone := make(chan int, 1)
	if i := indexOf(os.Args, "--"); i >= 0 && i+1 < len(os.Args) {
		if os.Getpid() != 1 {
			// Orphans of the app are reparented to us, so we can reap them as PID 1 would.
			syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0)
		}
		child = exec.Command(os.Args[i+1], os.Args[i+2:]...)
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := child.Start(); err != nil {
			fatal("starting %s: %v", os.Args[i+1], err)
		}
	}
	reap := func() {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				return
			}
			if child != nil && pid == child.Process.Pid {
				code := ws.ExitStatus()
				if ws.Signaled() {
					code = 128 + int(ws.Signal())
				}
				childDone <- code
			}
		}
	}

	keepalive := time.NewTicker(time.Duration(r.ttl) * time.Second / 3)
	keepalive.Stop()
	check := time.NewTimer(0)
	waiting, passed, failed := true, 0, 0
	checks := make(chan bool, 1)
	checking := false
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGCHLD {
				reap()
				continue
			}
			if s == syscall.SIGTERM || s == syscall.SIGINT {
				r.revoke()
				logf("info", "left: %v", s)
				if child == nil {
					os.Exit(0)
				}
			}
			if child != nil {
				child.Process.Signal(s)
			}
		case code := <-childDone:
			r.revoke()
			logf("info", "app exited %d", code)
			os.Exit(code)
		case <-check.C:
			if !checking {
				checking = true
				go func() { checks <- healthy(healthURL, checkTimeout) }()
			}
		case ok := <-checks:
			checking = false
			if ok {
				passed, failed = passed+1, 0
			} else {
				passed, failed = 0, failed+1
			}
			if r.lease == "" && ok && (waiting || passed >= rise) {
				if err := r.register(); err != nil {
					logf("warn", "register: %v", err)
				} else {
					waiting = false
					keepalive.Reset(time.Duration(r.ttl) * time.Second / 3)
				}
			} else if r.lease != "" && failed >= fall {
				r.revoke()
				keepalive.Stop()
			}
			if waiting {
				check.Reset(waitInterval)
			} else {
				check.Reset(interval)
			}
		case <-keepalive.C:
			if err := r.keepAlive(); err != nil {
				logf("warn", "keepalive: %v", err)
				r.lease = ""
				keepalive.Stop()
			}
		}
	}
}

func indexOf(a []string, s string) int {
	for i, v := range a {
		if v == s {
			return i
		}
	}
	return -1
}
