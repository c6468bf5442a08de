// Command kubemend-kubelet plays the kubelets of a test cluster that runs no containers. It
// registers fake nodes, keeps their leases fresh, and writes the status of every pod bound to
// them through the pods/status subresource the way a kubelet does: Running and Ready, OOMKilled
// (exit 137) when the memory a fault says the container uses is above its limit, restarts with
// CrashLoopBackOff between them, ErrImagePull/ImagePullBackOff for an image marked unpullable,
// Succeeded for run-to-completion pods, and finishing graceful deletion.
//
// Faults come in over HTTP with the same bodies as kube-sim's /sim/v1/faults API, so a test
// scenario injects them the same way on either cluster (see faults.go). The same listener serves
// GET /metrics: the kubelet's volume stats for the claims its pods mount, which it also expands
// when their request grows (see volumes.go).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type config struct {
	kubeconfig  string
	listen      string
	readyFile   string
	nodes       int
	crashAfter  time.Duration
	backoffBase time.Duration
	backoffMax  time.Duration
	jobDuration time.Duration
	tick        time.Duration
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "admin kubeconfig of the cluster (required)")
	flag.StringVar(&c.listen, "listen", "127.0.0.1:0", "HOST:PORT of the fault API (/sim/v1/faults)")
	flag.StringVar(&c.readyFile, "ready-file", "", "written once serving: {\"http_url\":...,\"pid\":...}")
	flag.IntVar(&c.nodes, "nodes", 3, "fake nodes node-1..N")
	flag.DurationVar(&c.crashAfter, "crash-after", time.Second, "how long a faulty container runs before it dies")
	flag.DurationVar(&c.backoffBase, "backoff-base", time.Second, "first crash-loop back-off (doubles per restart)")
	flag.DurationVar(&c.backoffMax, "backoff-max", 5*time.Second, "longest crash-loop back-off")
	flag.DurationVar(&c.jobDuration, "job-duration", 2*time.Second, "run time of pods with restartPolicy Never/OnFailure")
	flag.DurationVar(&c.tick, "tick", 200*time.Millisecond, "how often pod status is reconciled")
	flag.Parse()
	if c.kubeconfig == "" || c.nodes < 1 || c.crashAfter <= 0 || c.backoffBase <= 0 || c.backoffMax < c.backoffBase || c.tick <= 0 {
		fmt.Fprintln(os.Stderr, "kubemend-kubelet: --kubeconfig is required; --nodes >= 1; durations > 0; --backoff-max >= --backoff-base")
		os.Exit(2)
	}
	return c
}

func main() {
	cfg := parseFlags()
	rest, err := clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	rest.QPS, rest.Burst = 200, 400
	client := kubernetes.NewForConfigOrDie(rest)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	faults := newFaults()
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods()
	podInformer := pods.Informer()
	claims := factory.Core().V1().PersistentVolumeClaims()
	_ = claims.Informer()
	nodes := newNodeRunner(client, faults, cfg.nodes)
	if err := nodes.register(ctx); err != nil {
		log.Fatalf("registering nodes: %v", err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	_ = podInformer

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Fatalf("listen %s: %v", cfg.listen, err)
	}
	vols := &volumes{client: client, pods: pods.Lister(), claims: claims.Lister(), faults: faults, nodes: nodes}
	mux := faults.handler(nodes.names)
	mux.HandleFunc("GET /metrics", vols.metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatalf("fault API: %v", err)
		}
	}()
	if cfg.readyFile != "" {
		writeReady(cfg.readyFile, "http://"+ln.Addr().String())
	}
	log.Printf("kubemend-kubelet: %d nodes, fault API on http://%s", cfg.nodes, ln.Addr())

	kl := newKubelet(client, pods.Lister(), faults, nodes, cfg)
	kl.volumes = vols
	go nodes.heartbeat(ctx)
	kl.run(ctx)
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
}

func writeReady(path, url string) {
	body, _ := json.Marshal(map[string]any{"http_url": url, "pid": os.Getpid()})
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		log.Fatalf("ready file: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		log.Fatalf("ready file: %v", err)
	}
}
