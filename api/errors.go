package api

import (
	"context"
	"errors"

	"github.com/fedlic/fedlic/fsm"
	"github.com/fedlic/fedlic/node"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// toStatus maps node and fsm errors onto gRPC status codes. Errors that
// are already statuses (answers forwarded from the leader) pass through.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fsm.CodeInvalid:
			return status.Error(codes.InvalidArgument, fe.Msg)
		case fsm.CodeNotFound:
			return status.Error(codes.NotFound, fe.Msg)
		case fsm.CodePrecondition:
			return status.Error(codes.FailedPrecondition, fe.Msg)
		case fsm.CodeExists:
			return status.Error(codes.AlreadyExists, fe.Msg)
		}
	}
	switch {
	case errors.Is(err, node.ErrNoLeader), errors.Is(err, node.ErrNotLeader),
		errors.Is(err, node.ErrNotReady), errors.Is(err, node.ErrShutdown),
		errors.Is(err, node.ErrCatchingUp):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded before the operation finished; a write may still commit: read it back before retrying")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
