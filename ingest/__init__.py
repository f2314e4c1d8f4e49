"""Getting data into raw.*: the synthetic chain, CSV importers, COPY and batch bookkeeping."""
