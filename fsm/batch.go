package fsm

import (
	"errors"
	"fmt"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"google.golang.org/protobuf/proto"
)

// BatchResult is what Apply returns for a BatchType entry: one Result
// per command, in the order the batch holds them.
type BatchResult struct {
	Results []*Result
}

// Batchable reports whether commands of type t may share a log entry
// with others. Only license writes qualify: each is independent of the
// others in its batch except through the state it reads, and a batch
// applies them in order exactly as consecutive entries would apply.
func Batchable(t MessageType) bool {
	switch t {
	case IssueType, UpdateType, RevokeType, ReplaceType:
		return true
	}
	return false
}

// EncodeBatch builds one log entry from several entries made by Encode,
// each of a Batchable type.
func EncodeBatch(entries [][]byte) ([]byte, error) {
	if len(entries) == 0 {
		return nil, errors.New("encode batch: no commands")
	}
	for i, e := range entries {
		if len(e) < 1 || !Batchable(MessageType(e[0])) {
			return nil, fmt.Errorf("encode batch: command %d is not a license write", i)
		}
	}
	return Encode(BatchType, &pb.BatchCommand{Commands: entries})
}

// applyBatchEntry applies the commands of one batch entry in order, all
// at the entry's index. Like any entry, a batch this binary cannot
// decode, or one holding a command that may not be batched, stops the
// replica rather than let it diverge.
func (f *FSM) applyBatchEntry(index uint64, payload []byte) *BatchResult {
	var bc pb.BatchCommand
	if err := proto.Unmarshal(payload, &bc); err != nil {
		panic(fmt.Sprintf("fsm: cannot decode batch command at index %d: %v", index, err))
	}
	if len(bc.GetCommands()) == 0 {
		panic(fmt.Sprintf("fsm: empty batch command at index %d", index))
	}
	out := &BatchResult{Results: make([]*Result, len(bc.GetCommands()))}
	for i, c := range bc.GetCommands() {
		if len(c) == 0 || !Batchable(MessageType(c[0])) {
			panic(fmt.Sprintf("fsm: batch at index %d holds a command that cannot be batched (element %d)", index, i))
		}
		out.Results[i] = f.applyCommand(index, MessageType(c[0]), c[1:])
	}
	return out
}
