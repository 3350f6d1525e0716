/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rule engine: rules and their state (rules.c), their matches
 * (match.c), actions (action.c), sets (set.c), and the transactions that
 * change them (rules_netlink.c).
 *
 * Three layers, from what users send to what packets see:
 *
 * - A rule (struct nflab_rule) is what one RULE_NEW created: its netlink
 *   source, its handle, its counters and the state of its stateful
 *   matches. It never changes, and it is shared, by reference, by every
 *   ruleset that holds it, so that its counters and state carry across
 *   transactions.
 * - The source (struct nflab_src) is the ruleset as users see it: chains
 *   holding rules in order, and sets. The namespace keeps the committed
 *   one; a transaction edits a copy.
 * - The compiled ruleset (struct nflab_rs) is what the hooks read under
 *   RCU: per chain an array of compiled rules (matches decoded, jump
 *   targets and sets resolved to pointers into the same compiled
 *   ruleset). A commit builds a new one from the source and swaps one
 *   pointer, so a packet sees one ruleset whole.
 *
 * Lifetimes: the compiled ruleset holds a reference on each rule and set
 * data it uses. A commit publishes the new one, waits for an RCU grace
 * period and then frees the old one, in process context; so the last
 * reference on a rule or set data always goes in process context, after
 * no packet can still see it.
 */

#ifndef _NFLAB_RULES_H
#define _NFLAB_RULES_H

#include <linux/if.h>
#include <linux/list.h>
#include <linux/netfilter.h>
#include <linux/ratelimit.h>
#include <linux/refcount.h>
#include <linux/textsearch.h>
#include <linux/types.h>
#include <linux/u64_stats_sync.h>

#include "nlproto/nflab.h"

struct nflab_net;

/*
 * A formatted extended ACK message. 6.2+ keeps it in the extack; 6.1 has
 * no room there, so it goes to one of a ring of buffers (rules.c).
 */
#define NFLAB_MSG_LEN	160
__printf(2, 3)
void nflab_err_fmt(struct netlink_ext_ack *extack, const char *fmt, ...);

#define NFLAB_NTABLES	(NFLAB_TABLE_MAX + 1)

/* Largest NFLAB_RULE_A_MATCHES a rule may carry, in bytes. */
#define NFLAB_RULE_MATCHES_BYTES	8192
/* Room for the largest rule in a reply or a dump message. */
#define NFLAB_RULE_DUMP_SIZE	(NFLAB_RULE_MATCHES_BYTES + 2048)

struct nflab_rule_pcpu {
	u64_stats_t		packets;
	u64_stats_t		bytes;
	struct u64_stats_sync	syncp;
};

struct nflab_connlimit;

/* State of one stateful match, kept with its rule. */
struct nflab_mstate {
	atomic64_t		v;	/* quota: bytes used; nth: packets; limit: TAT */
	struct ts_config	*ts;	/* string */
	struct nflab_connlimit	*cl;	/* connlimit */
};

struct nflab_rule {
	refcount_t		ref;
	u64			handle;
	u8			table;
	struct nlattr		*matches;	/* copies of the rule's attributes */
	struct nlattr		*action;
	char			*comment;
	struct nflab_rule_pcpu __percpu *cnt;
	u64			base_packets;	/* at the last reset; rules_lock */
	u64			base_bytes;
	struct ratelimit_state	log_rs;		/* the log action's */
	unsigned int		nmatch;
	struct nflab_mstate	st[];		/* one per match */
};

/* Merged set elements: sorted disjoint ranges, or a port bitmap. */
struct nflab_set_data {
	refcount_t		ref;
	u8			type;		/* enum nflab_set_type */
	unsigned int		n;		/* ranges */
	struct nflab_range {
		u32 first;
		u32 last;
	}			*r;		/* host order, sorted, disjoint */
	unsigned long		*ports;		/* PORT sets: 65536 bits */
};

struct nflab_src_set {
	struct list_head	list;
	char			name[NFLAB_NAME_MAXLEN];
	u8			type;
	unsigned int		refs;		/* rules using it; at commit */
	struct nflab_set_data	*data;		/* committed elements, or NULL */
	/* In a transaction: ranges added since, merged at commit. */
	struct nflab_range	*add;
	unsigned int		nadd;
	unsigned int		cap;
};

struct nflab_src_chain {
	struct list_head	list;
	char			name[NFLAB_NAME_MAXLEN];
	u8			table;
	s8			hook;		/* -1: a user chain */
	u8			policy;		/* enum nflab_verdict */
	unsigned int		n;
	unsigned int		cap;
	struct nflab_rule	**rules;
};

struct nflab_src {
	struct list_head	chains;		/* built-in ones first */
	struct list_head	sets;
	unsigned int		nrules;
	unsigned int		nchains;	/* user chains */
	unsigned int		nsets;
};

/* A match, decoded for the packet path. */
struct nflab_match_c {
	u8			kind;		/* enum nflab_match */
	bool			invert;
	union {
		struct {
			char	name[IFNAMSIZ];
			u8	len;		/* bytes compared */
		} ifc;
		struct {
			__be32	addr;
			__be32	mask;
		} pfx;
		struct nflab_range range;
		u8		proto;
		struct {
			u8	n;
			struct {
				u16 first;
				u16 last;
			} r[NFLAB_PORTS_MAX];
		} ports;
		struct {
			u32	value;
			u32	mask;
		} vm;				/* tcp flags, mark, ct state/status */
		struct {
			u8	type;
			u8	code;
			bool	has_code;
		} icmp;
		struct {
			u32	min;
			u32	max;
		} len;
		struct {
			struct ts_config *ts;
			u32	from;
			u32	to;
		} str;
		struct {
			atomic64_t *used;
			u64	bytes;
		} quota;
		struct {
			atomic64_t *n;
			u32	every;
			u32	offset;
		} nth;
		struct {
			u32	tod_start;
			u32	tod_stop;
			u8	weekdays;
			bool	local;
			bool	has_tod;
			u64	date_start;
			u64	date_stop;
		} time;
		struct {
			atomic64_t *tat;	/* theoretical arrival time, ns */
			u64	interval;	/* ns per packet */
			u64	slack;		/* (burst - 1) * interval */
		} limit;
		struct {
			const struct nflab_set_data *data;
			u8	field;
		} set;
		struct {
			struct nflab_connlimit *cl;
			__be32	mask;
			u32	count;
			bool	upto;
		} connlimit;
	};
};

struct nflab_chain_c;

/* A NAT action's range, decoded. */
struct nflab_nat_range {
	__be32			addr_min;
	__be32			addr_max;
	u16			port_min;	/* host order; 0: no range */
	u16			port_max;
	u32			flags;		/* NFLAB_NAT_F_* */
	bool			have_addr;
};

struct nflab_rule_c {
	struct nflab_rule	*rule;
	struct nflab_chain_c	*target;	/* JUMP, GOTO */
	u8			action;		/* enum nflab_action */
	u8			reject_with;
	u8			ttl_mode;
	u32			value;
	u32			mask;
	const char		*log_prefix;
	unsigned int		nmatch;
	struct nflab_match_c	*m;
	struct nflab_nat_range	nat;		/* SNAT ... REDIRECT */
};

struct nflab_chain_c {
	u8			policy;		/* NF_ACCEPT or NF_DROP */
	unsigned int		n;
	struct nflab_rule_c	*r;
	char			name[NFLAB_NAME_MAXLEN];	/* for traces */
};

struct nflab_rs {
	u32			gen;
	/* Built-in chains; NULL where a hook has nothing to do. */
	struct nflab_chain_c	*base[NFLAB_NTABLES][NF_INET_NUMHOOKS];
	unsigned int		nchains;
	struct nflab_chain_c	*chains;	/* every chain, built-in ones too */
	unsigned int		nsets;
	struct nflab_set_data	**sets;		/* references held */
	unsigned int		*set_refs;	/* rules using each set */
};

/* What a rule sees of a packet: read once, on demand. */
struct nflab_pkt {
	struct sk_buff		*skb;
	const struct nf_hook_state *state;
	__be32			saddr;
	__be32			daddr;
	u16			len;
	u8			proto;
	u8			hook;
	bool			l4_done;
	bool			l4_ok;		/* ports/flags/icmp readable */
	bool			notrack;
	bool			ct_done;	/* ct_state, ct_status read */
	u32			ct_state;
	u32			ct_status;
	unsigned int		thoff;
	__be16			sport;
	__be16			dport;
	u8			tcp_flags;
	u8			icmp_type;
	u8			icmp_code;
	const struct nflab_rule_c *nat;		/* the NAT action met */
	/* What ended the evaluation: a rule, or NULL and the chain's policy. */
	const struct nflab_rule_c *why;
	const struct nflab_chain_c *why_chain;
	bool			reroute_failed;	/* mangle at LOCAL_OUT */
};

/* rules.c */
struct nflab_rule *nflab_rule_create(const struct nlattr *matches,
				     const struct nlattr *action,
				     const struct nlattr *comment, u8 table,
				     u64 handle, struct netlink_ext_ack *extack);
void nflab_rule_put(struct nflab_rule *r);
void nflab_rule_counters(const struct nflab_rule *r, u64 *packets, u64 *bytes);
void nflab_rule_reset(struct nflab_rule *r);
void nflab_src_init(struct nflab_src *src);
int nflab_src_empty(struct nflab_src *src);
void nflab_src_free(struct nflab_src *src);
int nflab_src_copy(struct nflab_src *dst, const struct nflab_src *src);
struct nflab_src_chain *nflab_src_chain_find(struct nflab_src *src, u8 table,
					     const char *name);
struct nflab_src_set *nflab_src_set_find(struct nflab_src *src,
					 const char *name);
int nflab_rules_commit(struct net *net, struct nflab_src *src, bool check,
		       struct netlink_ext_ack *extack);
int nflab_rules_net_init(struct nflab_net *nn);
void nflab_rules_net_pre_exit(struct net *net);
void nflab_rules_net_exit(struct net *net);
unsigned int nflab_rules_raw(struct sk_buff *skb,
			     const struct nf_hook_state *st, bool *notrack);
unsigned int nflab_rules_nat(struct sk_buff *skb,
			     const struct nf_hook_state *st,
			     const struct nflab_rule_c **nat);
bool nflab_action_is_nat(u8 action);

/* nat.c */
unsigned int nflab_nat_hook(void *priv, struct sk_buff *skb,
			    const struct nf_hook_state *st);
void nflab_nat_init(void);
int nflab_nat_notifiers_init(void);
void nflab_nat_notifiers_exit(void);

/* fullcone.c */
void nflab_fc_init(void);
bool nflab_fc_external(struct net *net, __be32 int_addr, __be16 int_port,
		       __be32 *ext_addr, __be16 *ext_port);
bool nflab_fc_internal(struct net *net, __be32 ext_addr, __be16 ext_port,
		       __be32 *int_addr, __be16 *int_port);
bool nflab_fc_taken(struct net *net, __be32 ext_addr, __be16 ext_port,
		    __be32 int_addr, __be16 int_port);
bool nflab_fc_bind(struct net *net, __be32 int_addr, __be16 int_port,
		   __be32 ext_addr, __be16 ext_port);
void nflab_fc_forget(struct net *net, const __be32 *ext_addr);
extern const char *const nflab_hook_chain_names[NF_INET_NUMHOOKS];
extern const u8 nflab_table_hooks[NFLAB_NTABLES];

/* match.c */
int nflab_match_decode(const struct nlattr *attr, struct nflab_match_c *m,
		       struct nflab_mstate *st, u8 table,
		       struct netlink_ext_ack *extack);
int nflab_match_init_state(const struct nlattr *attr, struct nflab_mstate *st);
bool nflab_match(const struct nflab_match_c *m, struct nflab_pkt *p);
bool nflab_pkt_l4(struct nflab_pkt *p);
const char *nflab_match_set_name(const struct nlattr *attr, u8 *field);
int nflab_match_put_state(struct sk_buff *msg, const struct nlattr *attr,
			  const struct nflab_mstate *st);

/* action.c */
int nflab_action_decode(const struct nlattr *attr, struct nflab_rule_c *rc,
			u8 table, struct netlink_ext_ack *extack);
const char *nflab_action_chain(const struct nlattr *attr, u8 *type);
const char *nflab_action_name(u8 action);
unsigned int nflab_action_packet(const struct nflab_rule_c *rc,
				 struct nflab_pkt *p);

/* connlimit.c: the most connections a rule counts and records */
#define NFLAB_CL_NODES		65536

struct nflab_connlimit *nflab_connlimit_alloc(void);
void nflab_connlimit_free(struct nflab_connlimit *cl);
unsigned int nflab_connlimit_count(struct nflab_connlimit *cl, struct net *net,
				   struct sk_buff *skb, __be32 saddr,
				   __be32 mask, unsigned int limit);

/* set.c */
struct nflab_set_data *nflab_set_build(const struct nflab_src_set *s);
void nflab_set_data_put(struct nflab_set_data *d);
bool nflab_set_lookup(const struct nflab_set_data *d, u32 key);

#endif /* _NFLAB_RULES_H */
