/** A context of typical size (~200 bytes of JSON), shared by the event-log benchmarks so they measure the same rows. */
export const contextOf = (i: number) => ({
  orderId: `ord_${i}`,
  customerId: `cus_${i % 977}`,
  amount: (i * 37) % 100_000,
  currency: 'EUR',
  items: [{ sku: `sku_${i % 50}`, qty: 1 + (i % 3) }],
  channel: 'web',
})
