//go:build fedlic_plantedbug

package fsm

// plantedBugForgetRevocations: a test-only build (-tags fedlic_plantedbug)
// that forgets revocations when restoring a snapshot. cmd/fedlic-chaos's
// tests build an agent with it to prove the checker catches a real bug.
const plantedBugForgetRevocations = true
