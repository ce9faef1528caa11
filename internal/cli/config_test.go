package cli

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// leafFields lists the paths of Config's non-struct fields.
func leafFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, leafFields(f.Type, prefix+f.Name+".")...)
			continue
		}
		out = append(out, prefix+f.Name)
	}
	return out
}

// nonZero lists the leaf fields of v that are not zero.
func nonZero(v reflect.Value, prefix string) []string {
	var out []string
	for i := range v.NumField() {
		f, name := v.Field(i), prefix+v.Type().Field(i).Name
		if f.Kind() == reflect.Struct {
			out = append(out, nonZero(f, name+".")...)
		} else if !f.IsZero() {
			out = append(out, name)
		}
	}
	return out
}

// Finding 1 (issue 13): every setting is a field of the one Config, each field is bound to
// exactly one variable of the settings table, and nothing else holds a setting. Before, 29 of
// 35 settings lived in package globals that LoadConfig's setters filled, so two loaded
// configurations shared them (the second load changed what the first one's users read).
func TestFinding1EverySettingIsAFieldOfConfig(t *testing.T) {
	// A Config with every leaf field set.
	var full Config
	v := reflect.ValueOf(&full).Elem()
	var fill func(reflect.Value)
	fill = func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.Struct:
				fill(f)
			case reflect.String:
				f.SetString("x")
			case reflect.Int, reflect.Int64:
				f.SetInt(7)
			case reflect.Float64:
				f.SetFloat(7)
			case reflect.Slice:
				f.Set(reflect.ValueOf([]string{"x"}))
			default:
				t.Fatalf("unexpected field kind %s", f.Kind())
			}
		}
	}
	fill(v)
	bound := map[string]string{}
	for _, s := range settings {
		var c Config
		s.copy(&c, &full)
		got := nonZero(reflect.ValueOf(c), "")
		require.Len(t, got, 1, "%s binds one field", s.env)
		require.Empty(t, bound[got[0]], "%s and %s bind the same field %s", s.env, bound[got[0]], got[0])
		bound[got[0]] = s.env
	}
	for _, f := range leafFields(reflect.TypeOf(Config{}), "") {
		require.NotEmpty(t, bound[f], "Config.%s has no variable in the settings table", f)
	}

	// Two configurations loaded one after the other stay apart.
	a, err := LoadConfig(func(k string) string {
		return map[string]string{"SELECTION_KAFKA_TOPIC": "topic-a", "SELECTION_VECTOR_MEMORY": "0", "SELECTION_POOL_REFRESH": "0"}[k]
	})
	require.NoError(t, err)
	b, err := LoadConfig(func(k string) string { return map[string]string{"SELECTION_KAFKA_TOPIC": "topic-b"}[k] })
	require.NoError(t, err)
	require.Equal(t, "topic-a", a.Ingest.Topic)
	require.Equal(t, "topic-b", b.Ingest.Topic)
	require.Negative(t, a.Vectors.Memory, "0 turns the in-memory index off")
	require.Equal(t, int64(8<<30), b.Vectors.Memory)
	require.Negative(t, a.Serve.PoolRefresh, "0 turns the refresher off")
	require.Equal(t, "on", b.Serve.Intents)
	ea, eb := &Env{Config: a}, &Env{Config: b}
	require.Zero(t, vectorIndexConfig(ea).MaxBytes, "no in-memory index")
	require.Equal(t, int64(8<<30), vectorIndexConfig(eb).MaxBytes)
}

// A Config built in code takes the defaults of the fields it leaves zero, and validate checks
// it like the environment's, naming the variable.
func TestConfigWithDefaultsAndValidate(t *testing.T) {
	require.Equal(t, DefaultConfig(), Config{}.WithDefaults())
	c := Config{HTTPAddr: "127.0.0.1:0", Ingest: IngestConfig{Topic: "t"}}.WithDefaults()
	require.Equal(t, "127.0.0.1:0", c.HTTPAddr)
	require.Equal(t, "t", c.Ingest.Topic)
	require.Equal(t, 10*time.Second, c.ShutdownWait)
	require.Equal(t, 128, c.Vectors.EmbedBatch)
	require.NoError(t, c.validate())

	c.API.MaxHeaderBytes = 10
	c.Serve.Intents = "maybe"
	err := c.validate()
	require.Error(t, err)
	require.Contains(t, err.Error(), "SELECTION_HTTP_MAX_HEADER_BYTES")
	require.Contains(t, err.Error(), "SELECTION_INTENTS")

	_, err = LoadConfig(func(k string) string { return map[string]string{"SELECTION_INTENTS": "yes"}[k] })
	require.ErrorContains(t, err, "SELECTION_INTENTS")
	_, err = LoadConfig(func(k string) string { return map[string]string{"SELECTION_POOL_REFRESH": "-1s"}[k] })
	require.ErrorContains(t, err, "SELECTION_POOL_REFRESH")
}

// `selection config` prints every variable of the table with its default.
func TestPrintSettingsListsTheTable(t *testing.T) {
	var b strings.Builder
	printSettings(&b)
	for _, s := range settings {
		require.Contains(t, b.String(), s.env)
	}
	require.Equal(t, len(settings)+1, strings.Count(b.String(), "\n"))
}
