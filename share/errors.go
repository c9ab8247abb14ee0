package share

import "errors"

// The share coordinator's errors; the broker maps each to its Kafka code in one table.
var (
	// ErrUnknownMember: a heartbeat or leave of a member the group does not have
	// (UNKNOWN_MEMBER_ID).
	ErrUnknownMember = errors.New("unknown share group member")
	// ErrFencedMemberEpoch: a heartbeat whose member epoch is neither the member's current
	// nor its previous one (FENCED_MEMBER_EPOCH).
	ErrFencedMemberEpoch = errors.New("member epoch fenced")
	// ErrGroupNotFound: a heartbeat with a non-zero epoch for a group that does not exist, or
	// a group id already used by a group of another type (GROUP_ID_NOT_FOUND).
	ErrGroupNotFound = errors.New("share group not found")
	// ErrGroupMaxSize: the group already has group.share.max.size members
	// (GROUP_MAX_SIZE_REACHED).
	ErrGroupMaxSize = errors.New("share group is full")
	// ErrGroupNotEmpty: altering or deleting the offsets of a group with members
	// (NON_EMPTY_GROUP).
	ErrGroupNotEmpty = errors.New("share group has members")
	// ErrInvalidRequest: a malformed request, e.g. acknowledgement batches that overlap or
	// name an unknown type, or acknowledgements on a fetch that opens a session
	// (INVALID_REQUEST).
	ErrInvalidRequest = errors.New("invalid share request")
	// ErrSessionNotFound: a fetch or acknowledge of a share session that does not exist
	// (SHARE_SESSION_NOT_FOUND).
	ErrSessionNotFound = errors.New("share session not found")
	// ErrInvalidSessionEpoch: a request whose session epoch is not the session's next one
	// (INVALID_SHARE_SESSION_EPOCH).
	ErrInvalidSessionEpoch = errors.New("share session epoch is invalid")
	// ErrSessionLimit: group.share.max.share.sessions sessions are open on this broker
	// (SHARE_SESSION_LIMIT_REACHED).
	ErrSessionLimit = errors.New("share session limit reached")
	// ErrInvalidRecordState: an acknowledgement of a record this member has not acquired
	// (INVALID_RECORD_STATE).
	ErrInvalidRecordState = errors.New("record is not acquired by this member")
)
