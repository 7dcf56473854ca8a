package filelock

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked says another process (or another open file of this one) holds
// the lock.
var ErrLocked = errors.New("locked by another process")

// Lock takes an exclusive flock on f without waiting. When the lock is
// held elsewhere the error wraps ErrLocked and names the holder when
// /proc/locks tells it. The lock lasts until f is closed.
func Lock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			if h := Holder(f.Name()); h != "" {
				return fmt.Errorf("%w: %s", ErrLocked, h)
			}
			return ErrLocked
		}
		return fmt.Errorf("flock: %w", err)
	}
}

// Holder names the process holding a lock on the file at path, such as
// `pid 4242 (vpcalertd run --config /etc/vpcalertd.yml)`, or returns "" when
// it cannot tell (no /proc, or the lock is gone).
func Holder(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return ""
	}
	defer f.Close()
	return holderIn(f, uint64(sys.Dev), sys.Ino, os.Getpid())
}

// holderIn reads /proc/locks lines such as
// "1: FLOCK  ADVISORY  WRITE 4242 00:2d:1234 0 EOF" and returns the first
// holder of a lock on the inode (dev, ino).
func holderIn(r *os.File, dev, ino uint64, self int) string {
	major := (dev&0x00000000000fff00)>>8 | (dev&0xfffff00000000000)>>32
	minor := dev&0xff | (dev&0x00000ffffff00000)>>12
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, ino)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// "1:" "FLOCK" "ADVISORY" "WRITE" pid dev:ino start end; blocked
		// waiters have "->" after the number.
		if len(fields) > 1 && fields[1] == "->" {
			continue
		}
		if len(fields) < 6 || !sameInode(fields[5], want) {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil || pid <= 0 {
			return "another process"
		}
		if pid == self {
			return fmt.Sprintf("pid %d (this process)", pid)
		}
		return describe(pid)
	}
	return ""
}

// sameInode compares "maj:min:ino" fields, whose device numbers /proc
// prints in hex with at least two digits.
func sameInode(a, b string) bool {
	pa, pb := strings.Split(a, ":"), strings.Split(b, ":")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := 0; i < 2; i++ {
		x, err1 := strconv.ParseUint(pa[i], 16, 32)
		y, err2 := strconv.ParseUint(pb[i], 16, 32)
		if err1 != nil || err2 != nil || x != y {
			return false
		}
	}
	return pa[2] == pb[2]
}

// describe returns "pid N (command line)".
func describe(pid int) string {
	cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(cmd) == 0 {
		return "pid " + strconv.Itoa(pid)
	}
	cmd = bytes.TrimRight(cmd, "\x00")
	args := strings.Split(string(cmd), "\x00")
	if len(args) > 8 {
		args = append(args[:8], "…")
	}
	return fmt.Sprintf("pid %d (%s)", pid, strings.Join(args, " "))
}
