package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"log"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"
)

// container is what the fake kubelet remembers about one container of one pod.
type container struct {
	image        string
	restarts     int32
	runningSince time.Time // zero while waiting
	waitUntil    time.Time // end of the current back-off
	waiting      string    // CrashLoopBackOff, ErrImagePull, ImagePullBackOff
	last         *corev1.ContainerStateTerminated
	done         *corev1.ContainerStateTerminated // run-to-completion pods
}

type podState struct {
	started    time.Time
	containers map[string]*container
	written    string // signature of the status last written
}

type kubelet struct {
	client  kubernetes.Interface
	pods    listersv1.PodLister
	faults  *faults
	nodes   *nodeRunner
	cfg     config
	state   map[types.UID]*podState
	volumes *volumes // expands the claims our pods mount (nil: none)
}

func newKubelet(c kubernetes.Interface, l listersv1.PodLister, f *faults, n *nodeRunner, cfg config) *kubelet {
	return &kubelet{client: c, pods: l, faults: f, nodes: n, cfg: cfg, state: map[types.UID]*podState{}}
}

func (k *kubelet) run(ctx context.Context) {
	t := time.NewTicker(k.cfg.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.pass(ctx)
			if k.volumes != nil {
				k.volumes.resize(ctx)
			}
		}
	}
}

func (k *kubelet) pass(ctx context.Context) {
	all, err := k.pods.List(labels.Everything())
	if err != nil {
		log.Printf("listing pods: %v", err)
		return
	}
	seen := map[types.UID]bool{}
	now := time.Now()
	for _, pod := range all {
		if !k.nodes.owns(pod.Spec.NodeName) {
			continue
		}
		seen[pod.UID] = true
		if _, down := k.faults.nodeReady(pod.Spec.NodeName); down {
			continue // a dead kubelet reports nothing and deletes nothing
		}
		if pod.DeletionTimestamp != nil {
			k.finishDeletion(ctx, pod)
			continue
		}
		st := k.state[pod.UID]
		if st == nil {
			st = &podState{started: now, containers: map[string]*container{}}
			k.state[pod.UID] = st
		}
		status := k.step(pod, st, now)
		sig := signature(status)
		if sig == st.written {
			continue
		}
		updated := pod.DeepCopy()
		updated.Status = status
		if _, err := k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil {
				log.Printf("pod %s/%s status: %v", pod.Namespace, pod.Name, err)
			}
			continue
		}
		st.written = sig
	}
	for uid := range k.state {
		if !seen[uid] {
			delete(k.state, uid)
		}
	}
}

// finishDeletion does what a kubelet does once the containers of a terminating pod are gone.
func (k *kubelet) finishDeletion(ctx context.Context, pod *corev1.Pod) {
	err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		log.Printf("pod %s/%s delete: %v", pod.Namespace, pod.Name, err)
	}
}

// owners lists the workloads a pod belongs to, for matching memory faults: the pod itself,
// its controller, and for a ReplicaSet the Deployment (named <deployment>-<pod-template-hash>).
func owners(pod *corev1.Pod) [][2]string {
	out := [][2]string{{"Pod", pod.Name}}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		out = append(out, [2]string{ref.Kind, ref.Name})
		if h := pod.Labels["pod-template-hash"]; ref.Kind == "ReplicaSet" && h != "" && strings.HasSuffix(ref.Name, "-"+h) {
			out = append(out, [2]string{"Deployment", strings.TrimSuffix(ref.Name, "-"+h)})
		}
	}
	return out
}

// step advances every container of the pod to now and returns the status a kubelet would post.
func (k *kubelet) step(pod *corev1.Pod, st *podState, now time.Time) corev1.PodStatus {
	restartAlways := pod.Spec.RestartPolicy == "" || pod.Spec.RestartPolicy == corev1.RestartPolicyAlways
	var statuses []corev1.ContainerStatus
	allReady, allDone, anyFailed := true, true, false
	for _, spec := range pod.Spec.Containers {
		c := st.containers[spec.Name]
		if c == nil || c.image != spec.Image {
			c = &container{image: spec.Image}
			st.containers[spec.Name] = c
		}
		k.advance(pod, spec, c, now, restartAlways)
		cs := k.containerStatus(pod, spec, c)
		statuses = append(statuses, cs)
		allReady = allReady && cs.Ready
		allDone = allDone && c.done != nil
		anyFailed = anyFailed || (c.done != nil && c.done.ExitCode != 0)
	}
	phase := corev1.PodRunning
	switch {
	case allDone && anyFailed:
		phase = corev1.PodFailed
	case allDone:
		phase = corev1.PodSucceeded
	case !restartAlways && allReady:
		phase = corev1.PodRunning
	}
	if !allDone {
		pending := true
		for _, cs := range statuses {
			pending = pending && cs.State.Waiting != nil && cs.RestartCount == 0 && cs.LastTerminationState.Terminated == nil
		}
		if pending {
			phase = corev1.PodPending
		}
	}
	hostIP := fmt.Sprintf("10.0.0.%d", k.nodes.index[pod.Spec.NodeName])
	h := fnv.New32a()
	h.Write([]byte(pod.UID))
	podIP := fmt.Sprintf("10.244.%d.%d", k.nodes.index[pod.Spec.NodeName], 2+h.Sum32()%250)
	start := metav1.NewTime(st.started)
	if pod.Status.StartTime != nil {
		start = *pod.Status.StartTime
	}
	ready := allReady && !allDone
	status := corev1.PodStatus{
		Phase: phase, HostIP: hostIP, HostIPs: []corev1.HostIP{{IP: hostIP}}, PodIP: podIP,
		PodIPs: []corev1.PodIP{{IP: podIP}}, StartTime: &start, QOSClass: pod.Status.QOSClass,
		ContainerStatuses: statuses,
	}
	status.Conditions = conditions(pod, ready, allDone)
	return status
}

func conditions(pod *corev1.Pod, ready, done bool) []corev1.PodCondition {
	want := []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: boolStatus(!done)},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: boolStatus(ready)},
		{Type: corev1.PodReady, Status: boolStatus(ready)},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	}
	for i := range want {
		if !ready && (want[i].Type == corev1.PodReady || want[i].Type == corev1.ContainersReady) {
			want[i].Reason = "ContainersNotReady"
		}
		if done && want[i].Type != corev1.PodInitialized && want[i].Type != corev1.PodScheduled {
			want[i].Reason = "PodCompleted"
		}
		want[i].LastTransitionTime = metav1.Now()
		for _, old := range pod.Status.Conditions {
			if old.Type == want[i].Type && old.Status == want[i].Status {
				want[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	return want
}

func boolStatus(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

// advance moves one container along: pull, run, die (OOM or crash), back off, run again.
func (k *kubelet) advance(pod *corev1.Pod, spec corev1.Container, c *container, now time.Time, restartAlways bool) {
	if c.done != nil {
		return
	}
	if f, ok := k.faults.image(spec.Image); ok && f.mode == "pull" {
		c.runningSince = time.Time{}
		if c.waiting == "" {
			c.waiting, c.waitUntil = "ErrImagePull", now.Add(k.cfg.backoffBase)
		} else if now.After(c.waitUntil) {
			c.waiting = "ImagePullBackOff"
		}
		return
	}
	if c.waiting != "" && (c.waiting != "CrashLoopBackOff" || !now.Before(c.waitUntil)) {
		c.waiting, c.runningSince = "", now // pulled, or back-off over: (re)start
	}
	if c.runningSince.IsZero() && c.waiting == "" {
		c.runningSince = now
	}
	if c.waiting != "" {
		return
	}
	term := k.death(pod, spec, c)
	if term == nil && !restartAlways && now.Sub(c.runningSince) >= k.cfg.jobDuration {
		term = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}
	}
	if term == nil || now.Sub(c.runningSince) < k.cfg.crashAfter && term.ExitCode != 0 {
		return
	}
	term.StartedAt, term.FinishedAt = metav1.NewTime(c.runningSince), metav1.NewTime(now)
	term.ContainerID = containerID(pod, spec.Name, c.restarts)
	if !restartAlways && (term.ExitCode == 0 || pod.Spec.RestartPolicy == corev1.RestartPolicyNever) {
		c.done = term
		return
	}
	c.last = term
	c.restarts++
	c.runningSince = time.Time{}
	if c.restarts == 1 {
		c.runningSince = now // the first restart is immediate
		return
	}
	backoff := k.cfg.backoffBase << (c.restarts - 2)
	if backoff > k.cfg.backoffMax || backoff <= 0 {
		backoff = k.cfg.backoffMax
	}
	c.waiting, c.waitUntil = "CrashLoopBackOff", now.Add(backoff)
}

// death is how the running container will end, or nil if it keeps running.
func (k *kubelet) death(pod *corev1.Pod, spec corev1.Container, c *container) *corev1.ContainerStateTerminated {
	if use, ok := k.faults.memoryUse(pod.Namespace, owners(pod), spec.Name); ok {
		if limit, has := spec.Resources.Limits[corev1.ResourceMemory]; has && use > limit.Value() {
			return &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}
		}
	}
	if f, ok := k.faults.image(spec.Image); ok && f.mode == "crash" {
		return &corev1.ContainerStateTerminated{ExitCode: f.exitCode, Reason: "Error"}
	}
	return nil
}

func containerID(pod *corev1.Pod, name string, restarts int32) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", pod.UID, name, restarts)
	return fmt.Sprintf("containerd://%016x", h.Sum64())
}

func (k *kubelet) containerStatus(pod *corev1.Pod, spec corev1.Container, c *container) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: "docker.io/" + spec.Image + "@sha256:0",
		RestartCount: c.restarts, ContainerID: containerID(pod, spec.Name, c.restarts)}
	if c.last != nil {
		cs.LastTerminationState.Terminated = c.last
	}
	switch {
	case c.done != nil:
		cs.State.Terminated = c.done
	case c.waiting == "ErrImagePull":
		cs.ContainerID, cs.ImageID = "", ""
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.waiting,
			Message: fmt.Sprintf("failed to pull and unpack image %q: not found", spec.Image)}
	case c.waiting == "ImagePullBackOff":
		cs.ContainerID, cs.ImageID = "", ""
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.waiting,
			Message: fmt.Sprintf("Back-off pulling image %q", spec.Image)}
	case c.waiting == "CrashLoopBackOff":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.waiting, Message: fmt.Sprintf(
			"back-off %s restarting failed container=%s pod=%s_%s(%s)", c.waitUntil.Sub(c.last.FinishedAt.Time).Round(time.Second),
			spec.Name, pod.Name, pod.Namespace, pod.UID)}
	default:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.runningSince)}
		cs.Ready, cs.Started = true, ptr.To(true)
	}
	if cs.Started == nil {
		cs.Started = ptr.To(false)
	}
	return cs
}

// signature is what decides whether a new status must be written (timestamps aside).
func signature(s corev1.PodStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|", s.Phase)
	for _, c := range s.ContainerStatuses {
		fmt.Fprintf(&b, "%s:%d:%v:", c.Name, c.RestartCount, c.Ready)
		switch {
		case c.State.Running != nil:
			fmt.Fprintf(&b, "run@%d", c.State.Running.StartedAt.Unix())
		case c.State.Waiting != nil:
			b.WriteString("wait:" + c.State.Waiting.Reason)
		case c.State.Terminated != nil:
			b.WriteString("term:" + c.State.Terminated.Reason)
		}
		b.WriteString("|")
	}
	return b.String()
}
