package kubelet

import (
	"time"

	"context"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// computeStatus derives the Pod's status from its containers, keeping what the apiserver
// set (qosClass) and the transition times of conditions that did not change.
func (w *podWorker) computeStatus() *corev1.PodStatus {
	old := w.pod.Status
	st := old.DeepCopy()
	st.HostIP = w.k.cfg.NodeIP
	st.HostIPs = []corev1.HostIP{{IP: w.k.cfg.NodeIP}}
	st.StartTime = &w.startTime
	st.Message, st.Reason = "", ""
	if w.sb != nil {
		st.PodIP = w.sb.ip.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	st.ContainerStatuses = nil
	allReady, allRunning, anyFailed, allTerminated := len(w.containers) > 0, len(w.containers) > 0, false, len(w.containers) > 0
	for _, c := range w.containers {
		cs := c.status()
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
		allRunning = allRunning && cs.State.Running != nil
		if t := cs.State.Terminated; t != nil {
			anyFailed = anyFailed || t.ExitCode != 0
		} else {
			allTerminated = false
		}
	}
	switch {
	case allTerminated && w.pod.Spec.RestartPolicy == corev1.RestartPolicyNever,
		allTerminated && w.pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && !anyFailed:
		if anyFailed {
			st.Phase = corev1.PodFailed
		} else {
			st.Phase = corev1.PodSucceeded
		}
	case w.sb != nil && (allRunning || st.Phase == corev1.PodRunning):
		// Running once every container has started; a container restarting later does
		// not take the Pod back to Pending.
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	cond := func(t corev1.PodConditionType, ok bool, reason string) {
		s := corev1.ConditionFalse
		if ok {
			s, reason = corev1.ConditionTrue, ""
		}
		for i := range st.Conditions {
			if st.Conditions[i].Type == t {
				if st.Conditions[i].Status != s {
					st.Conditions[i].LastTransitionTime = nowSec()
				}
				st.Conditions[i].Status, st.Conditions[i].Reason = s, reason
				return
			}
		}
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: nowSec()})
	}
	cond(corev1.PodScheduled, true, "")
	cond(corev1.PodReadyToStartContainers, w.sb != nil, "")
	cond(corev1.PodInitialized, true, "")
	cond(corev1.ContainersReady, allReady, "ContainersNotReady")
	cond(corev1.PodReady, allReady && st.Phase == corev1.PodRunning, "ContainersNotReady")
	return st
}

// writeStatus sends the status when it differs from the last one written.
func (w *podWorker) writeStatus(ctx context.Context) {
	st := w.computeStatus()
	if w.lastStatus != nil && apiequality.Semantic.DeepEqual(w.lastStatus, st) &&
		apiequality.Semantic.DeepEqual(&w.pod.Status, st) {
		return
	}
	p := w.pod.DeepCopy()
	p.Status = *st
	out, err := w.k.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		// Conflict or apiserver down: the informer brings a newer object; try next tick.
		return
	}
	w.pod = out
	w.lastStatus = st
}

// nowSec is the current time at the API's resolution (seconds), so that a status computed
// again compares equal to the one read back and is not rewritten on every tick.
func nowSec() metav1.Time { return metav1.NewTime(time.Now().Truncate(time.Second)) }
