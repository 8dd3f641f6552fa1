package pomocore

// CategorizedData is a categorized_data document: the category given to an
// (app, url, title). The key is not unique: the main server inserts one
// document per activity.
type CategorizedData struct {
	ID         ObjectID
	App        string
	URL        string
	Title      string
	CategoryID ObjectID
	LLMBased   bool
}

// UsageLog is a pomodoro_usage_log document: one activity of one user in
// one session.
type UsageLog struct {
	ID                ObjectID
	UserID            string
	CategorizedDataID ObjectID
	CategoryID        ObjectID
	Session           int
	SessionMinutes    int
	// SessionDate is "YYYY-MM-DD". MongoDB stores it as a date at midnight
	// of that day in the service time zone (Asia/Seoul: 2026-11-24 is
	// 2026-11-23T15:00:00Z), as the main server stores a LocalDate; the
	// older data server stored midnight UTC.
	SessionDate string
	Timestamp   float64
	Duration    float64
}
