package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"selection/filter"
	"selection/internal/core"
	"selection/internal/icecat"
	"selection/internal/testdb"
	"selection/tagger"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

func ptr[T any](v T) *T { return &v }

// Finding 2 (issue 13): the tags a command defines when they are missing are found without
// case, as the tagger's names are unique (tags_name_lower). Before, the demo's copy of the
// loop compared names as written and failed on a tag saved as "deal" when it defines "Deal";
// the bench's copy lower-cased one side only.
func TestFinding2DefineMissingIgnoresCase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := testdb.New(t)
	c, err := core.New(ctx, db.Pool, icecat.Embedder(t), core.Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Stop(context.Background())) }()
	rule := func(name string) tagger.TagDef {
		return tagger.TagDef{Name: name, Kind: tagger.KindRule,
			Definition: tagger.Definition{Rule: ptr(filter.AtLeast("discount", 20))}}
	}
	made, err := core.DefineMissing(ctx, c.Tags, []tagger.TagDef{rule("deal")})
	require.NoError(t, err)
	require.Equal(t, 1, made)
	made, err = core.DefineMissing(ctx, c.Tags, []tagger.TagDef{rule("Deal"), rule("Clearance")})
	require.NoError(t, err, "Deal is deal")
	require.Equal(t, 1, made)
	require.Len(t, c.Tags.Index().Tags(), 2)
}

// Finding 2 (issue 13): one constructor wires the service for serve, demo, the scenario bench
// and the evaluation harness: with Follow the pollers run and the service reports where the
// indexes stand; the intent resolver is built always and handed to the service only when
// asked; Stop stops every poller (goleak in TestMain) and may be called twice.
func TestFinding2OneConstructorWiresTheService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := testdb.New(t)
	emb := icecat.Embedder(t)

	loaded, err := core.New(ctx, db.Pool, emb, core.Config{})
	require.NoError(t, err)
	require.NotNil(t, loaded.Intents)
	require.Nil(t, loaded.Service.Intents, "intents are off by default")
	require.Nil(t, loaded.Service.Position, "indexes loaded once are taken to be current")
	require.Nil(t, loaded.Follower)
	require.Nil(t, loaded.Worker)
	require.NoError(t, loaded.Stop(ctx))

	c, err := core.New(ctx, db.Pool, emb, core.Config{Follow: true, ServiceIntents: true, EmbedBatch: 16, Currency: "SGD"})
	require.NoError(t, err)
	require.NotNil(t, c.Follower)
	require.NotNil(t, c.Worker)
	require.NotNil(t, c.Index)
	require.Same(t, c.Intents, c.Service.Intents)
	require.Equal(t, "SGD", c.Service.CatalogCurrency)
	require.NotNil(t, c.Service.Position)
	pos, err := c.Service.Position(ctx)
	require.NoError(t, err)
	require.Equal(t, c.Position(), pos)
	require.NoError(t, c.Stop(ctx))
	require.NoError(t, c.Stop(ctx))

	_, err = core.New(ctx, db.Pool, emb, core.Config{Currency: "XYZ"})
	require.ErrorContains(t, err, "XYZ")
}
