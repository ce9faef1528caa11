// Package scenariobench is `selection bench scenario`: it times scenario-to-pool end to end
// (plan, filter, search, rank, write a pool version) on the Icecat catalogue or on a catalogue
// of synthetic variants of it, measures the recall of the dense search the engine uses, and
// compares with Postgres alone.
package scenariobench
