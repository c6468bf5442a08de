package main

import (
	"context"
	"fmt"
	"log"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const leaseSeconds = 40

// nodeRunner registers the fake nodes and keeps them alive like kubelets: a Lease in
// kube-node-lease renewed every 10 s and the Ready condition in the Node's status. A node
// fault stops both and reports Ready False or Unknown, as a failing or vanished kubelet would.
type nodeRunner struct {
	client kubernetes.Interface
	faults *faults
	names  []string
	index  map[string]int
}

func newNodeRunner(client kubernetes.Interface, f *faults, n int) *nodeRunner {
	r := &nodeRunner{client: client, faults: f, index: map[string]int{}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("node-%d", i)
		r.names = append(r.names, name)
		r.index[name] = i
	}
	return r
}

func (r *nodeRunner) owns(node string) bool { _, ok := r.index[node]; return ok }

func (r *nodeRunner) register(ctx context.Context) error {
	for _, name := range r.names {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"kubemend.io/fake-node": "true"}}}
		_, err := r.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := r.writeStatus(ctx, name, "True"); err != nil {
			return err
		}
	}
	return nil
}

func (r *nodeRunner) writeStatus(ctx context.Context, name, ready string) error {
	node, err := r.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi")}
	node.Status.Capacity, node.Status.Allocatable = capacity, capacity
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.0.0.%d", r.index[name])},
		{Type: corev1.NodeHostName, Address: name}}
	node.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OperatingSystem: "linux",
		Architecture: "amd64", ContainerRuntimeVersion: "kubemend-kubelet://1", OSImage: "none (kubemend-kubelet)"}
	node.Status.Phase = corev1.NodeRunning
	reason, msg := "KubeletReady", "kubelet is posting ready status"
	switch ready {
	case "False":
		reason, msg = "KubeletNotReady", "container runtime is down (kubemend-kubelet node fault)"
	case "Unknown":
		reason, msg = "NodeStatusUnknown", "Kubelet stopped posting node status."
	}
	conds := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionStatus(ready), Reason: reason, Message: msg}}
	for _, t := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		conds = append(conds, corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: "KubeletHas" + "Sufficient" + string(t)[:len(t)-len("Pressure")]})
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		for _, old := range node.Status.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	node.Status.Conditions = conds
	_, err = r.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

func (r *nodeRunner) renewLease(ctx context.Context, name string) error {
	leases := r.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: coordv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](leaseSeconds), RenewTime: &now}},
			metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// heartbeat runs until ctx ends: healthy nodes renew their lease every 10 s and post status every
// 30 s; a node with a fault posts its fault status once per change and then goes silent.
func (r *nodeRunner) heartbeat(ctx context.Context) {
	reported := map[string]string{}
	lastStatus := map[string]time.Time{}
	lastLease := map[string]time.Time{}
	for {
		for _, name := range r.names {
			want := "True"
			if s, down := r.faults.nodeReady(name); down {
				want = s
			}
			if want == "True" && time.Since(lastLease[name]) >= 10*time.Second {
				lastLease[name] = time.Now()
				if err := r.renewLease(ctx, name); err != nil && ctx.Err() == nil {
					log.Printf("lease %s: %v", name, err)
				}
			}
			if reported[name] != want || (want == "True" && time.Since(lastStatus[name]) > 30*time.Second) {
				if err := r.writeStatus(ctx, name, want); err != nil {
					if ctx.Err() == nil {
						log.Printf("node status %s: %v", name, err)
					}
					continue
				}
				reported[name], lastStatus[name] = want, time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
