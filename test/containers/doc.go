// Package containers holds waba-worker's container tests: the worker and NATS
// run as containers of the images `make images` builds (no registry is ever
// asked for anything), on a private Docker network, with the Graph emulator
// served by the test process on that network's gateway so that each test can
// inject faults into it directly. Broker faults are real: a NATS container
// stopped and started again, a node of a three-node JetStream cluster killed,
// a worker container stopped with SIGTERM, a worker started before its
// broker. Each scenario ends with "every event has exactly one result".
//
// The tests live in _test.go files; `make test` runs them when Docker answers
// (building the images first), and they fail instead of skipping when
// WABA_REQUIRE_DOCKER=1, as .ci/run sets. The docker-compose.yml stack at the
// top of the repository is tested here too (TestCompose).
package containers
