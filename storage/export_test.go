package storage

// SetListPastLog sets how many objects of one log ListKeys passes over
// before it lists again past that log, and returns a function restoring it.
func SetListPastLog(n int) (restore func()) {
	old := listPastLog
	listPastLog = n
	return func() { listPastLog = old }
}
