package auditlog

import (
	"time"
)

// RFC3339Micro is metav1.RFC3339Micro, the layout of an audit event's
// timestamps (metav1.MicroTime).
const RFC3339Micro = "2006-01-02T15:04:05.000000Z07:00"

// parseMicroTime parses a metav1.MicroTime as upstream does
// (time.Parse(metav1.RFC3339Micro, s)). The shape kube-apiserver writes,
// 2006-01-02T15:04:05.000000Z, is parsed without building a time.Time;
// everything else (offsets, out-of-range fields) goes through time.Parse.
func parseMicroTime(s []byte) (timestamp, bool) {
	if t, ok := parseUTCMicro(s); ok {
		return t, true
	}
	t, err := time.Parse(RFC3339Micro, string(s))
	if err != nil {
		return timestamp{}, false
	}
	return timestamp{sec: t.Unix(), nsec: int32(t.Nanosecond()), set: true}, true
}

// parseRFC3339 parses a metav1.Time (v1alpha1/v1beta1 "timestamp" and
// metadata.creationTimestamp) as upstream does.
func parseRFC3339(s []byte) (timestamp, bool) {
	t, err := time.Parse(time.RFC3339, string(s))
	if err != nil {
		return timestamp{}, false
	}
	return timestamp{sec: t.Unix(), nsec: int32(t.Nanosecond()), set: true}, true
}

// parseUTCMicro handles exactly YYYY-MM-DDTHH:MM:SS.ffffffZ with in-range fields.
func parseUTCMicro(s []byte) (timestamp, bool) {
	if len(s) != 27 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' {
		return timestamp{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for _, c := range s[from:to] {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	micro, ok7 := num(20, 26)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return timestamp{}, false
	}
	days := daysFromCivil(year, month, day)
	return timestamp{
		sec:  days*86400 + int64(hour*3600+minute*60+sec),
		nsec: int32(micro * 1000),
		set:  true,
	}, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
