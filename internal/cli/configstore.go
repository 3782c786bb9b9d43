package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/turnpikegw/turnpike/internal/admin"
	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// storeTimeout bounds one store operation of a write (a Load and a Put).
const storeTimeout = 10 * time.Second

func (o *runOptions) addStoreFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.configStore, "config-store", "", "where admin API writes and POST /config keep the configuration: `file` rewrites the -c file atomically in Kong's flat format (comments are lost); redis://[user:password@]host:port[/db][?options] (rediss:// for TLS; options addr=, cluster=true, master_name=, timeout=, prefix=) shares it between the nodes of a cluster, -c being only the seed of an empty store; empty: nowhere, entity writes answer 405 as Kong's DB-less mode and POST /config changes this node until restart")
}

// startStore sends the admin API's writes through the --config-store:
// the file's here, Redis's through the cluster node.
func (g *gateway) startStore(o *runOptions, src *admin.Source) error {
	if o.cluster.node != nil {
		g.startCluster(src)
		return nil
	}
	var err error
	if g.store, err = openStore(o); err != nil {
		return err
	}
	if g.store != nil {
		src.Commit = storeCommit(g.store, g.loader, g.holder)
	}
	return nil
}

// openStore opens a file --config-store (startSource has refused the
// mistakes); nil without one.
func openStore(o *runOptions) (configstore.Store, error) {
	if o.configStore != "file" {
		return nil, nil
	}
	return configstore.NewFile(o.configPath, o.loadLimits.MaxSize)
}

// storeCommit is admin.Source.Commit over a store: validate and compile,
// store with a compare-and-set on the version in force, apply. The
// version the change was made from is the one the store holds only if
// that is the configuration in force, and the one the change was made
// from (base): a file edited by hand and not yet applied, or applied
// since the change read the configuration, is a conflict (409), not
// something to overwrite.
func storeCommit(st configstore.Store, loader *reload.Loader, holder *snapshot.Holder) func([]byte, string, string) (*snapshot.Snapshot, error) {
	var mu sync.Mutex
	return func(data []byte, base, who string) (*snapshot.Snapshot, error) {
		mu.Lock()
		defer mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		doc, err := st.Load(ctx)
		if err != nil {
			return nil, storeErr("reading", err)
		}
		cur := holder.Load()
		if cur != nil && config.SourceHash(doc.Data) != cur.Hash || staleBase(cur, base) {
			return nil, configstore.ErrConflict
		}
		// Behind a load in progress, most often the watcher applying the
		// file the commit before this one wrote, the check waits its turn
		// rather than answering busy.
		if err := checkBehindLoad(loader, data); err != nil {
			return nil, err
		}
		if _, err := st.Put(ctx, data, doc.Version, who); err != nil {
			return nil, storeErr("writing", err)
		}
		return loader.Apply(data, who)
	}
}

// storeErr is a store's failure (a disk full, a file unreadable): the
// store is unavailable (503), not the document invalid (400). A conflict
// stays one.
func storeErr(doing string, err error) error {
	if errors.Is(err, configstore.ErrConflict) || errors.Is(err, configstore.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %s it: %v", configstore.ErrUnavailable, doing, err)
}
