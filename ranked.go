package pomocore

// Ranked is one leaderboard member with its rank: members with equal
// scores share a rank (1, 2, 2, 4). The leaderboard reader returns it and
// the read API serves it as JSON.
type Ranked struct {
	Rank   int64   `json:"rank"`
	UserID string  `json:"userId"`
	Score  float64 `json:"score"`
}
