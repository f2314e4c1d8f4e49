from __future__ import annotations

import json

import streamlit as st

from streamlit_app import display, queries

st.title("Agents")
runs = queries.runs()
if runs.empty:
    st.info("No runs yet.")
    st.stop()
run_id = int(st.selectbox("Run", runs["run_id"].tolist()))
running = runs.loc[runs["run_id"] == run_id, "status"].iloc[0] == "running"


@st.fragment(run_every=5 if running else None)
def show(run_id: int) -> None:
    reviews = queries.reviews(run_id)
    if reviews.empty:
        st.write("No reviews for this run.")
    for _, r in reviews.iterrows():
        mode = "deterministic offline review" if r["offline"] else r["model"]
        with st.expander(f"{r['agent']}: {r['verdict']} ({r['severity']}, {mode})", True):
            st.write(r["summary"])
            for f in r["findings"] or []:
                st.markdown(f"- **{f.get('title')}** — {f.get('evidence')}")
            for a in r["recommended_actions"] or []:
                st.markdown(f"- ➜ {a if isinstance(a, str) else json.dumps(a)}")
    usage = queries.agent_usage(run_id)
    if not usage.empty:
        st.subheader("What the reviews cost")
        total = usage["cost_usd"].sum(min_count=1)
        st.caption(
            "Messages API requests, the SDK's retries, tokens (the cached part of the input "
            "apart), the cost in US dollars at the configured prices (FRYCAST_AGENT_PRICES; "
            "empty where a model has no price) and wall time per review; an offline review sends "
            "nothing."
            + (f" This run's reviews cost ${total:,.4f} in all." if total == total else "")
        )
        display.show(
            usage,
            column_config={
                "cost_usd": st.column_config.NumberColumn("cost (US$)", format="$%.4f"),
                "seconds": st.column_config.NumberColumn("wall time (s)", format="%.1f"),
            },
        )
    st.subheader("Event timeline")
    ev = queries.events(run_id)
    for agent, group in ev.groupby("agent", sort=False):
        st.markdown(f"**{agent}**")
        for _, e in group.iterrows():
            p = e["payload"]
            if e["kind"] == "tool_call":
                text = f"🔧 {p.get('name')}({json.dumps(p.get('input'))})"
            elif e["kind"] == "tool_result":
                text = ("❌ " if p.get("is_error") else "↩ ") + str(p.get("content"))[:300]
            elif e["kind"] == "verdict":
                text = f"⚖ {p.get('verdict')}: {p.get('summary')}"
            else:
                text = f"{e['kind']}: {json.dumps(p)[:200]}"
            st.text(f"{e['seq']:>3} {e['at']:%H:%M:%S}  {text}")


show(run_id)
