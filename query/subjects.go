package query

import "github.com/auditq/auditq/auditlog"

// Subjects selects users: by service account, username or group, any of
// them. Where a Filter's --sa, --user and --group must all hold, a subject
// here needs to match one (rbac generate --sa a:b --user alice is about two
// subjects), and it is matched against one user, not an event's two.
type Subjects struct {
	sas           []saPattern
	users, groups []string
}

// NewSubjects parses the patterns, as Filter's ServiceAccounts, Users and
// Groups. With none, every user matches.
func NewSubjects(serviceAccounts, users, groups []string) (*Subjects, error) {
	s := &Subjects{users: users, groups: groups}
	for _, sa := range serviceAccounts {
		p, err := parseSA(sa)
		if err != nil {
			return nil, err
		}
		s.sas = append(s.sas, p)
	}
	return s, nil
}

// Any reports whether s selects every user.
func (s *Subjects) Any() bool { return len(s.sas)+len(s.users)+len(s.groups) == 0 }

// Match reports whether u is one of the subjects.
func (s *Subjects) Match(u *auditlog.UserInfo) bool {
	if s.Any() {
		return true
	}
	if matchSA(s.sas, u.Username) || anyGlob(s.users, u.Username) {
		return true
	}
	for _, g := range u.Groups {
		if anyGlob(s.groups, g) {
			return true
		}
	}
	return false
}
