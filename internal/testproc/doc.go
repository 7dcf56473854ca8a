// Package testproc starts the programs that tests need (the S3 and SQS test
// servers, redis-server, a browser) so that they end when the test binary
// ends, however it ends: a test's cleanup, a panic, os.Exit, a -timeout
// kill or SIGKILL.
//
// Start runs the program under a small watchdog: the test binary itself,
// started again with an environment variable that this package's init
// function looks for. The watchdog puts the program in a process group of
// its own and watches its standard input, a pipe from the test binary: the
// kernel closes that pipe whichever way the test binary ends, and the
// watchdog then stops the program's whole group (SIGTERM, then SIGKILL) and
// removes the files it was told to (Cmd.Remove). On Linux both the watchdog
// and the program also get a parent-death signal (SysProcAttr.Pdeathsig),
// so the program dies even when the watchdog itself is killed. TempDir
// names folders after the test binary's process id and removes those of
// earlier runs whose process is gone, for when nothing could clean up.
//
// DiesWithTestBinary is the check: it runs a test again in a child test
// binary that starts a program and kills itself with SIGKILL, then checks
// that the program's processes, ports and folders are gone.
package testproc
