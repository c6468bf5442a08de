package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
)

// volumes plays the two parts of a cluster that look at a mounted PersistentVolumeClaim and that
// a test cluster without containers or CSI drivers lacks:
//   - the kubelet's volume stats: GET /metrics serves kubelet_volume_stats_{capacity,available,
//     used}_bytes{namespace,persistentvolumeclaim} for every bound claim a running pod on our
//     nodes mounts, the series a kubelet exports. Capacity is the claim's status.capacity (what
//     the filesystem has after any resize); used is 0 unless a fault fills it
//     (POST /sim/v1/faults/pvc, kube-sim's body).
//   - volume expansion (external-resizer + the kubelet's online filesystem resize): a mounted,
//     bound claim whose spec.resources.requests.storage is above its status.capacity gets its
//     PersistentVolume's spec.capacity raised, then status.capacity set to the request.
type volumes struct {
	client kubernetes.Interface
	pods   listersv1.PodLister
	claims listersv1.PersistentVolumeClaimLister
	faults *faults
	nodes  *nodeRunner
}

// mounted lists the bound claims mounted by running pods on our nodes whose kubelet is up.
func (v *volumes) mounted() []*corev1.PersistentVolumeClaim {
	pods, err := v.pods.List(labels.Everything())
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []*corev1.PersistentVolumeClaim
	for _, p := range pods {
		if !v.nodes.owns(p.Spec.NodeName) || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		if _, down := v.faults.nodeReady(p.Spec.NodeName); down {
			continue
		}
		for _, vol := range p.Spec.Volumes {
			if vol.PersistentVolumeClaim == nil || seen[p.Namespace+"/"+vol.PersistentVolumeClaim.ClaimName] {
				continue
			}
			c, err := v.claims.PersistentVolumeClaims(p.Namespace).Get(vol.PersistentVolumeClaim.ClaimName)
			if err != nil || c.Status.Phase != corev1.ClaimBound || c.Spec.VolumeName == "" {
				continue
			}
			seen[p.Namespace+"/"+c.Name] = true
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// metrics writes the kubelet's volume stats in the Prometheus text format.
func (v *volumes) metrics(w http.ResponseWriter, _ *http.Request) {
	var capacity, available, used strings.Builder
	for _, c := range v.mounted() {
		size, ok := c.Status.Capacity[corev1.ResourceStorage]
		if !ok || size.Value() <= 0 {
			continue
		}
		total := size.Value()
		fill := min(v.faults.volumeUse(c.Namespace, c.Name), total)
		series := fmt.Sprintf("{namespace=%q,persistentvolumeclaim=%q}", c.Namespace, c.Name)
		fmt.Fprintf(&capacity, "kubelet_volume_stats_capacity_bytes%s %d\n", series, total)
		fmt.Fprintf(&available, "kubelet_volume_stats_available_bytes%s %d\n", series, total-fill)
		fmt.Fprintf(&used, "kubelet_volume_stats_used_bytes%s %d\n", series, fill)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	for _, m := range []struct {
		name, help string
		body       *strings.Builder
	}{
		{"kubelet_volume_stats_capacity_bytes", "Capacity in bytes of the volume", &capacity},
		{"kubelet_volume_stats_available_bytes", "Number of available bytes in the volume", &available},
		{"kubelet_volume_stats_used_bytes", "Number of used bytes in the volume", &used},
	} {
		fmt.Fprintf(w, "# HELP %s [ALPHA] %s\n# TYPE %s gauge\n%s", m.name, m.help, m.name, m.body.String())
	}
}

// resize finishes the expansion of every mounted claim asking for more than it has.
func (v *volumes) resize(ctx context.Context) {
	for _, c := range v.mounted() {
		want, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]
		have := c.Status.Capacity[corev1.ResourceStorage]
		if !ok || want.Cmp(have) <= 0 {
			continue
		}
		if err := v.expandVolume(ctx, c.Spec.VolumeName, want); err != nil {
			if ctx.Err() == nil {
				log.Printf("expanding PV %s for %s/%s: %v", c.Spec.VolumeName, c.Namespace, c.Name, err)
			}
			continue
		}
		updated := c.DeepCopy()
		updated.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
		updated.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: want}
		updated.Status.AllocatedResourceStatuses = nil
		updated.Status.Conditions = nil
		_, err := v.client.CoreV1().PersistentVolumeClaims(c.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			log.Printf("PVC %s/%s status: %v", c.Namespace, c.Name, err)
			continue
		}
		if err == nil {
			log.Printf("PVC %s/%s expanded to %s", c.Namespace, c.Name, want.String())
		}
	}
}

// expandVolume raises a PersistentVolume's capacity to at least `to` (the resizer's part).
func (v *volumes) expandVolume(ctx context.Context, name string, to resource.Quantity) error {
	pv, err := v.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cur, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok && cur.Cmp(to) >= 0 {
		return nil
	}
	if pv.Spec.Capacity == nil {
		pv.Spec.Capacity = corev1.ResourceList{}
	}
	pv.Spec.Capacity[corev1.ResourceStorage] = to
	_, err = v.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
	return err
}
