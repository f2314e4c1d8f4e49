-- Why the served forecast says what it says, for the nodes a global model (LightGBM, XGBoost)
-- serves: per node and month, the base (the node's recent daily level) and what each group of
-- features adds, in units (TreeSHAP, ml/drivers.py). Base and drivers add up to the model's
-- base forecast for the month, before the chance of opening and reconciliation.
with

drivers as (
    select * from {{ source('forecast', 'forecast_drivers') }}
),

final as (
    select
        -- identifiers
        run_id,
        level,
        node_key,
        month,
        driver,
        -- the driver
        model,
        units,
        driver like 'base%' as is_base,
        sum(units) over (partition by run_id, level, node_key, month) as model_units
    from drivers
    where run_id = {{ served_run_id() }}
)

select * from final
