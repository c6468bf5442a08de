// The upstream-rules e2e's Kubernetes objects, one manifest per scenario group; the test replaces
// the @NAME@ placeholders (namespaces, the node to avoid) before applying them with kubectl.
#pragma once

namespace kubemend::e2e {

// @OOM@, @ROLL@, @LOOP@, @HPA@ and @PVC@ are the scenarios' namespaces.
inline constexpr const char* kNamespaces = R"(
apiVersion: v1
kind: Namespace
metadata: {name: @OOM@}
---
apiVersion: v1
kind: Namespace
metadata: {name: @ROLL@}
---
apiVersion: v1
kind: Namespace
metadata: {name: @LOOP@}
---
apiVersion: v1
kind: Namespace
metadata: {name: @HPA@}
---
apiVersion: v1
kind: Namespace
metadata: {name: @PVC@}
)";

// The PVC scenario: a statically provisioned 1Gi volume (a CSI volume no driver serves: the
// test's kubemend-kubelet plays the kubelet and the external resizer) bound to claim data, in a
// StorageClass that allows expansion, mounted by a running pod.
inline constexpr const char* kPvcWorkload = R"(
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: @PVC@}
provisioner: fake.csi.kubemend.io
allowVolumeExpansion: true
volumeBindingMode: Immediate
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: @PVC@}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: @PVC@
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: @PVC@, name: data}
  csi: {driver: fake.csi.kubemend.io, volumeHandle: @PVC@}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: @PVC@}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: @PVC@
  volumeName: @PVC@
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: @PVC@}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      affinity: @AFFINITY@
      containers:
      - name: db
        image: @PVC@/db:v1
        volumeMounts: [{name: data, mountPath: /data}]
      volumes:
      - name: data
        persistentVolumeClaim: {claimName: data}
)";

// The HPA scenario: a Deployment already at its HPA's maxReplicas. There is no metrics API, so
// the real HPA controller cannot compute a desired count; it still copies the scale target's
// replicas into status.currentReplicas, which is all KubeHpaMaxedOut compares (with
// spec.maxReplicas, and only when maxReplicas != minReplicas).
inline constexpr const char* kHpaWorkload = R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: @HPA@}
spec:
  replicas: 3
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend}}
    spec:
      affinity: @AFFINITY@
      containers:
      - name: app
        image: @HPA@/frontend:v1
        resources: {requests: {cpu: 100m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: frontend, namespace: @HPA@}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: frontend}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
)";

// @OOM@, @ROLL@ and @LOOP@ are the scenarios' namespaces. No workload runs on the node that goes
// NotReady (@AFFINITY@ keeps them off it: the node controller marks its pods not ready).
inline constexpr const char* kWorkloads = R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: @OOM@}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      affinity: @AFFINITY@
      containers:
      - name: app
        image: @OOM@/web:v1
        resources: {limits: {memory: 256Mi}, requests: {memory: 128Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: @ROLL@}
spec:
  replicas: 2
  minReadySeconds: 5  # a pod that crashes within a second never counts as available: the rollout stalls
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      affinity: @AFFINITY@
      containers:
      - name: app
        image: @ROLL@/api:v1
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: @LOOP@}
spec:
  replicas: 5
  strategy: {type: Recreate}
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      affinity: @AFFINITY@
      containers:
      - name: app
        image: @LOOP@/worker:v1
)";

}  // namespace kubemend::e2e
