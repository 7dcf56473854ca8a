package testproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// TempDir creates a folder for a program's files under os.TempDir(), named
// prefix-PID-random after this process, first removing the folders of the
// same prefix whose process is gone: those of test binaries killed before
// anything could clean up. Give the folder to Cmd.Remove so that the
// watchdog removes it when the program ends.
func TempDir(prefix string) (string, error) {
	if err := sweep(os.TempDir(), prefix); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", prefix+"-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("temporary folder for %s: %w", prefix, err)
	}
	return dir, nil
}

// sweep removes parent/prefix-PID-* folders whose process PID is gone.
func sweep(parent, prefix string) error {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return fmt.Errorf("look for stale %s folders: %w", prefix, err)
	}
	var errs []error
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix+"-")
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("remove stale folder of process %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// alive reports whether a process pid exists and is not a zombie (a zombie
// holds nothing but its id).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name in parentheses, which may hold
	// spaces or parentheses itself.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// Descendants returns the ids of the processes below pid (its children,
// theirs, and so on), read from /proc: what a program such as a browser
// started under it. Processes that detached to init are not among them.
func Descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 || i+2 > len(stat) {
			continue
		}
		f := strings.Fields(string(stat[i+2:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q, n := parent[p], 0; q > 0 && n < len(parent); q, n = parent[q], n+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
