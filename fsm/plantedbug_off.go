//go:build !fedlic_plantedbug

package fsm

// plantedBugForgetRevocations is false in every real build. See
// plantedbug_on.go.
const plantedBugForgetRevocations = false
