package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
)

// faults holds what the tests injected. The request bodies are kube-sim's (/sim/v1/faults/*):
//
//	POST /sim/v1/faults/memory {"namespace","workload":"deployment/web","container"?,"bytes":"300Mi"|null}
//	POST /sim/v1/faults/image  {"image":"shop/api:v2","mode":"crash"|"pull"|"ok","exitCode"?}
//	POST /sim/v1/faults/node   {"node":"node-2","ready":false,"status"?:"Unknown"|"False"}
//	POST /sim/v1/faults/pvc    {"namespace","name":"data","usedBytes":"990Mi"|null}
//	DELETE /sim/v1/faults      clear everything
type faults struct {
	mu     sync.Mutex
	memory map[string]int64 // namespace/kind/name/container ("" container: every container) -> bytes
	images map[string]imageFault
	nodes  map[string]string // node -> Ready status it reports ("False" or "Unknown")
	pvcs   map[string]int64  // namespace/claim -> bytes used on its volume
}

type imageFault struct {
	mode     string
	exitCode int32
}

func newFaults() *faults {
	return &faults{memory: map[string]int64{}, images: map[string]imageFault{}, nodes: map[string]string{},
		pvcs: map[string]int64{}}
}

func memoryKey(ns, kind, name, container string) string {
	return ns + "/" + kind + "/" + name + "/" + container
}

// memoryUse is the working set a fault gives container c of a pod owned by the given workloads.
func (f *faults) memoryUse(ns string, owners [][2]string, container string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range owners {
		for _, c := range []string{container, ""} {
			if b, ok := f.memory[memoryKey(ns, o[0], o[1], c)]; ok {
				return b, true
			}
		}
	}
	return 0, false
}

func (f *faults) image(img string) (imageFault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x, ok := f.images[img]
	return x, ok
}

func (f *faults) nodeReady(node string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, down := f.nodes[node]
	return s, down
}

// volumeUse is the bytes a fault says are used on the volume of claim ns/name (0 without one).
func (f *faults) volumeUse(ns, name string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pvcs[ns+"/"+name]
}

var workloadKinds = map[string]string{
	"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
	"replicaset": "ReplicaSet", "replicasets": "ReplicaSet", "rs": "ReplicaSet",
	"statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
	"job": "Job", "jobs": "Job", "pod": "Pod", "pods": "Pod", "po": "Pod",
}

func (f *faults) handler(nodeNames []string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /sim/v1/faults/memory", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Namespace, Workload, Container string
			Bytes                          *string
		}
		if !decode(w, r, &body) {
			return
		}
		kind, name, ok := strings.Cut(body.Workload, "/")
		k := workloadKinds[strings.ToLower(kind)]
		if body.Namespace == "" || !ok || name == "" || k == "" {
			badRequest(w, "namespace and workload (deployment|replicaset|statefulset|job|pod/NAME) are required")
			return
		}
		key := memoryKey(body.Namespace, k, name, body.Container)
		f.mu.Lock()
		defer f.mu.Unlock()
		if body.Bytes == nil {
			delete(f.memory, key)
		} else {
			q, err := resource.ParseQuantity(*body.Bytes)
			if err != nil {
				badRequest(w, "bytes: "+err.Error())
				return
			}
			f.memory[key] = q.Value()
		}
		reply(w, map[string]any{"memory": len(f.memory)})
	})
	mux.HandleFunc("POST /sim/v1/faults/image", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Image, Mode string
			ExitCode    *int32
		}
		if !decode(w, r, &body) {
			return
		}
		if body.Image == "" || (body.Mode != "crash" && body.Mode != "pull" && body.Mode != "ok") {
			badRequest(w, "image is required; mode is crash, pull or ok")
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if body.Mode == "ok" {
			delete(f.images, body.Image)
		} else {
			code := int32(1)
			if body.ExitCode != nil {
				code = *body.ExitCode
			}
			f.images[body.Image] = imageFault{mode: body.Mode, exitCode: code}
		}
		reply(w, map[string]any{"images": len(f.images)})
	})
	mux.HandleFunc("POST /sim/v1/faults/node", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Node   string
			Ready  *bool
			Status string
		}
		if !decode(w, r, &body) {
			return
		}
		known := false
		for _, n := range nodeNames {
			known = known || n == body.Node
		}
		if !known || body.Ready == nil || (body.Status != "" && body.Status != "Unknown" && body.Status != "False") {
			badRequest(w, fmt.Sprintf("node must be one of %v; ready is required; status is Unknown or False", nodeNames))
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if *body.Ready {
			delete(f.nodes, body.Node)
		} else if body.Status == "False" {
			f.nodes[body.Node] = "False"
		} else {
			f.nodes[body.Node] = "Unknown"
		}
		reply(w, map[string]any{"nodes": len(f.nodes)})
	})
	mux.HandleFunc("POST /sim/v1/faults/pvc", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Namespace, Name string
			UsedBytes       *string
		}
		if !decode(w, r, &body) {
			return
		}
		if body.Namespace == "" || body.Name == "" {
			badRequest(w, "namespace and name (of the PersistentVolumeClaim) are required")
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if body.UsedBytes == nil {
			delete(f.pvcs, body.Namespace+"/"+body.Name)
		} else {
			q, err := resource.ParseQuantity(*body.UsedBytes)
			if err != nil || q.Sign() < 0 {
				badRequest(w, fmt.Sprintf("usedBytes: a non-negative quantity such as 990Mi (%v)", err))
				return
			}
			f.pvcs[body.Namespace+"/"+body.Name] = q.Value()
		}
		reply(w, map[string]any{"pvcs": len(f.pvcs)})
	})
	mux.HandleFunc("DELETE /sim/v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.memory, f.images, f.nodes, f.pvcs = map[string]int64{}, map[string]imageFault{}, map[string]string{}, map[string]int64{}
		reply(w, map[string]any{})
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	if err := dec.Decode(v); err != nil {
		badRequest(w, "body: "+err.Error())
		return false
	}
	return true
}

func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "status": "Failure", "code": 400, "reason": "BadRequest", "message": msg})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
