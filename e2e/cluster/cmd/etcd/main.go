// Command etcd is upstream etcd's server (go.etcd.io/etcd/server/v3/etcdmain) built at the version
// the pinned Kubernetes release requires, so the test control plane runs the etcd it was tested with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
