package fsutil

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// OtherOwner names the user that owns path (or the nearest of its
// directories this user can look at) when that is another user: whose
// file or deployment a permission denied is about.
func OtherOwner(path string) (who string, ok bool) {
	if uid, ok := ownerOf(path); ok && uid != os.Getuid() {
		return User(uid), true
	}
	return "", false
}

// User names the user uid as messages do: "uid 0 (root)", the name when
// the system knows it.
func User(uid int) string {
	who := fmt.Sprintf("uid %d", uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		who += " (" + u.Username + ")"
	}
	return who
}

// ownerOf is the owner of path or of the nearest of its directories
// that can be looked at.
func ownerOf(path string) (uid int, ok bool) {
	_, info := NearestExisting(path)
	if info == nil {
		return 0, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
