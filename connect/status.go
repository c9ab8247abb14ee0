package connect

import "fmt"

// State is a connector's or task's state as the REST API and the status topic name it.
type State string

// The states of Kafka Connect's AbstractStatus.State.
const (
	StateUnassigned State = "UNASSIGNED"
	StateRunning    State = "RUNNING"
	StatePaused     State = "PAUSED"
	StateStopped    State = "STOPPED"
	StateFailed     State = "FAILED"
	StateRestarting State = "RESTARTING"
)

// TargetState is the state a connector's owner asked for (PUT pause/resume/stop).
type TargetState string

// The target states of Kafka Connect's TargetState.
const (
	TargetStarted TargetState = "STARTED"
	TargetPaused  TargetState = "PAUSED"
	TargetStopped TargetState = "STOPPED"
)

// Status is the state of a connector or a task on a worker; Trace is the failure's text.
type Status struct {
	State    State
	Trace    string
	WorkerID string
}

// TaskID names one task of a connector.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

func (id TaskID) String() string { return fmt.Sprintf("%s-%d", id.Connector, id.Task) }

// RestError is an error the REST API answers with its status code and Kafka Connect's body
// {"error_code":code,"message":message}.
type RestError struct {
	Code    int
	Message string
}

func (e *RestError) Error() string { return e.Message }

// notFound, conflict and badRequest build the REST errors Java's herders raise.
func notFound(format string, args ...any) error {
	return &RestError{Code: 404, Message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &RestError{Code: 409, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &RestError{Code: 400, Message: fmt.Sprintf(format, args...)}
}
