package evals_test

import (
	"fmt"
	"strings"

	"selection/evals"
)

func ExampleNDCG() {
	j, bad, _ := evals.ReadJudgments(strings.NewReader("query,docid,rating\nusb stick,1,3\nusb stick,2,1\nusb stick,3,0\n"))
	fmt.Println(len(bad), j.Queries)
	ratings := j.Ratings["usb stick"]
	ranking := []int64{3, 1, 9} // 9 was never judged: it gains nothing
	// DCG = 0 + 7/log2(3) = 4.417; ideal = 7 + 1/log2(3) = 7.631
	fmt.Printf("nDCG@10 %.3f, condensed %.3f, recall@50 %.2f, RR %.2f\n",
		evals.NDCG(ranking, ratings, 10), evals.CondensedNDCG(ranking, ratings, 10),
		evals.Recall(ranking, ratings, 50), evals.ReciprocalRank(ranking, ratings))
	// Output:
	// 0 [usb stick]
	// nDCG@10 0.579, condensed 0.579, recall@50 1.00, RR 0.50
}
